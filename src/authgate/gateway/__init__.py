"""The API-gateway front: route matching, the proxy, identity headers, the upstream client."""
