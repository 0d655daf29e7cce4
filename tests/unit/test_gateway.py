"""The gateway's request reading and its lane past the router, without sockets."""

from __future__ import annotations

from typing import Any

from starlette.routing import Mount, Route

from authgate.config import GatewaySettings
from authgate.gateway.headers import Incoming
from authgate.gateway.proxy import GatewayLane, gateway_routes


async def _endpoint(scope: Any, receive: Any, send: Any) -> None: ...


def lane(*paths: str) -> tuple[GatewayLane, dict[str, Any]]:
    settings = GatewaySettings.model_validate(
        {"routes": [{"path": p, "upstream": "http://127.0.0.1:9"} for p in paths]}
    )
    others = [Route("/oauth2/authorize", _endpoint), Route("/manager/traffic/{tx_id}", _endpoint),
              Mount("/static", routes=[])]
    routes = others + gateway_routes(settings)
    # gateway_routes() promises BaseRoutes; each is a Route whose endpoint is a RouteProxy.
    proxies = {r.endpoint.route.path: r.endpoint for r in routes[len(others):]}  # type: ignore[attr-defined]
    return GatewayLane(routes), proxies


def scope(path: str, **extra: Any) -> dict[str, Any]:
    return {"type": "http", "path": path, "root_path": "", **extra}


def test_lane_takes_the_path_and_everything_below_it():
    gateway, proxies = lane("/api/photos", "/api")
    assert gateway.match(scope("/api/photos")) is proxies["/api/photos"]
    assert gateway.match(scope("/api/photos/1/x")) is proxies["/api/photos"]
    assert gateway.match(scope("/api/photosx")) is proxies["/api"]  # the next route, in order
    assert gateway.match(scope("/apix")) is None
    assert gateway.match(scope("/healthz")) is None


def test_lane_leaves_routes_that_overlap_others_to_the_router():
    gateway, _ = lane("/oauth2", "/manager/traffic/x", "/static/app", "/")
    for path in ("/oauth2/token", "/manager/traffic/x/1", "/static/app/a.js", "/anything"):
        assert gateway.match(scope(path)) is None, path


def test_lane_leaves_unusual_scopes_to_the_router():
    gateway, _ = lane("/api")
    assert gateway.match(scope("/api/x", root_path="/prefix")) is None
    assert gateway.match(scope("/api/a\nb")) is None


def test_incoming_keeps_only_what_the_upstream_may_see():
    raw = [
        (b"host", b"gw.example"), (b"authorization", b"Bearer abc"),
        (b"connection", b"keep-alive, X-Hop"), (b"x-hop", b"1"), (b"keep-alive", b"timeout=5"),
        (b"x-authgate-subject", b"mallory"), (b"X-Authgate-Meta-A", b"b"),
        (b"x-forwarded-for", b"10.0.0.1"), (b"x-forwarded-host", b"evil"),
        (b"content-type", b"application/json"), (b"content-length", b"12"),
        (b"x-custom", b"kept"), (b"accept", b"*/*"),
    ]
    request = Incoming(raw, b"x-authgate-")
    assert request.headers == [(b"content-type", b"application/json"), (b"x-custom", b"kept"),
                               (b"accept", b"*/*")]
    assert request.authorization == [b"Bearer abc"]
    assert (request.host, request.forwarded_for) == (b"gw.example", b"10.0.0.1")
    assert (request.has_body, request.content_length) == (True, 12)


def test_incoming_chunked_body_has_no_length():
    request = Incoming([(b"transfer-encoding", b"chunked")], b"x-authgate-")
    assert (request.has_body, request.content_length, request.headers) == (True, None, [])
