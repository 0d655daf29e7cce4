"""Client authentication: "Find client application information from message".

RFC 6749 section 2.3.1: HTTP Basic (`client_secret_basic`, id and secret form-urlencoded before
base64) or `client_id`/`client_secret` in the body (`client_secret_post`), as `[client_auth]`
allows. Public clients send only their `client_id`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from urllib.parse import unquote_plus

from authgate.config import ClientAuthSettings
from authgate.errors import OAuthError
from authgate.forms import Form
from authgate.models import Client
from authgate.registry import hash_secret, secret_matches

REALM = "authgate"
_DUMMY_SECRET_HASH = hash_secret("no client has this secret")


def auth_methods(settings: ClientAuthSettings) -> list[str]:
    """`token_endpoint_auth_methods_supported` for the metadata document."""
    methods = {
        "header": ["client_secret_basic"],
        "body": ["client_secret_post"],
        "any": ["client_secret_basic", "client_secret_post"],
    }[settings.location]
    return [*methods, "none"]


def invalid_client(description: str, *, via_header: bool) -> OAuthError:
    """401 invalid_client; the Basic challenge only when the client tried the header."""
    headers = {"WWW-Authenticate": f'Basic realm="{REALM}"'} if via_header else None
    return OAuthError("invalid_client", description, status=401, headers=headers)


def read_basic(authorization: str) -> tuple[str, str]:
    """Decode `Basic base64(urlencode(id):urlencode(secret))`, or invalid_client."""
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        raise invalid_client("unsupported Authorization scheme", via_header=True)
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise invalid_client("malformed Basic credentials", via_header=True) from None
    client_id, separator, secret = decoded.partition(":")
    if not separator or not client_id:
        raise invalid_client("malformed Basic credentials", via_header=True)
    return unquote_plus(client_id), unquote_plus(secret)


class ClientCredentials:
    """What the request says about the client, before the registry is asked."""

    __slots__ = ("client_id", "secret", "via_header")

    def __init__(self, client_id: str, secret: str | None, via_header: bool) -> None:
        self.client_id = client_id
        self.secret = secret
        self.via_header = via_header


def read_credentials(
    headers: Mapping[str, str], form: Form, settings: ClientAuthSettings
) -> ClientCredentials:
    authorization = headers.get("authorization")
    body_id = form.get(settings.client_id_field)
    body_secret = form.get(settings.client_secret_field)
    form.reject_repeated((settings.client_id_field, settings.client_secret_field))
    if authorization:
        if settings.location == "body":
            raise invalid_client("client credentials are accepted in the body only",
                                 via_header=True)
        client_id, secret = read_basic(authorization)
        if body_secret:
            raise OAuthError("invalid_request", "client credentials sent twice")
        if body_id and body_id != client_id:
            raise OAuthError("invalid_request", "client_id differs from the Authorization header")
        return ClientCredentials(client_id, secret or None, via_header=True)
    if not body_id:
        raise invalid_client("client authentication is required", via_header=False)
    if body_secret and settings.location == "header":
        raise invalid_client("client credentials are accepted in the Authorization header only",
                       via_header=False)
    return ClientCredentials(body_id, body_secret, via_header=False)


def verify_client(client: Client | None, credentials: ClientCredentials) -> Client:
    """Check the secret in constant time; a public client must send none."""
    if client is None:
        secret_matches(credentials.secret or "", _DUMMY_SECRET_HASH)  # same work as a miss
        raise invalid_client("unknown client or wrong secret", via_header=credentials.via_header)
    if client.is_public:
        if credentials.secret:
            raise invalid_client("a public client has no secret", via_header=credentials.via_header)
        return client
    if credentials.secret is None or not secret_matches(credentials.secret, client.secret_hash):
        raise invalid_client("unknown client or wrong secret", via_header=credentials.via_header)
    return client
