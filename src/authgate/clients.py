"""Client applications at the endpoints: "Find client application information from message".

This module owns what a request needs of a client: its secret (generated, hashed, checked in
constant time), the credentials read from the request, and the client record, from this
process's cache when that is safe. A lookup goes endpoint -> `Clients` -> registry -> store.

RFC 6749 section 2.3.1: HTTP Basic (`client_secret_basic`, id and secret form-urlencoded before
base64) or `client_id`/`client_secret` in the body (`client_secret_post`), as `[client_auth]`
allows. Public clients send only their `client_id`. RFC 8705 section 2: a client registered
with `tls_client_auth` or `self_signed_tls_client_auth` sends its `client_id` and proves itself
with the certificate of the connection.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING
from urllib.parse import unquote_plus

from authgate.certificates import PeerCertificate, from_pem, load_authorities, same_thumbprint
from authgate.config import ClientAuthSettings
from authgate.errors import OAuthError
from authgate.forms import Form
from authgate.models import Client
from authgate.tokens import generate_token

if TYPE_CHECKING:
    from cryptography import x509

    from authgate.registry import Registry

log = logging.getLogger("authgate.clients")

REALM = "authgate"
TLS_AUTH_METHODS = ["tls_client_auth", "self_signed_tls_client_auth"]
CLIENT_ID_LENGTH = 32
CLIENT_SECRET_LENGTH = 48  # 48 characters of 62 symbols: 285 bits
CACHE_SIZE = 10_000  # client records cached per process; past that the cache starts over


def hash_secret(secret: str) -> str:
    """Client secrets are generated with >= 256 bits, so a fast hash is safe and cheap."""
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, secret_hash: str | None) -> bool:
    if secret_hash is None:
        return False
    return hmac.compare_digest(hash_secret(secret), secret_hash)


def new_client_id() -> str:
    return generate_token(CLIENT_ID_LENGTH)


def new_client_secret() -> str:
    return generate_token(CLIENT_SECRET_LENGTH)


_DUMMY_SECRET_HASH = hash_secret("no client has this secret")


def auth_methods(settings: ClientAuthSettings, *, tls: bool = False) -> list[str]:
    """`token_endpoint_auth_methods_supported` for the metadata document; `tls`: whether
    client certificates are asked for (`[server] tls_client_ca`)."""
    methods = {
        "header": ["client_secret_basic"],
        "body": ["client_secret_post"],
        "any": ["client_secret_basic", "client_secret_post"],
    }[settings.location]
    return [*methods, *(TLS_AUTH_METHODS if tls else []), "none"]


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

    __slots__ = ("certificate", "client_id", "secret", "via_header")

    def __init__(
        self,
        client_id: str,
        secret: str | None,
        via_header: bool,
        certificate: PeerCertificate | None = None,
    ) -> None:
        self.client_id = client_id
        self.secret = secret
        self.via_header = via_header
        self.certificate = certificate  # of the connection, whatever the client's method


def read_credentials(
    headers: Mapping[str, str],
    form: Form,
    settings: ClientAuthSettings,
    certificate: PeerCertificate | None = None,
) -> ClientCredentials:
    authorization = headers.get("authorization")
    body_id = form.get(settings.client_id_field)
    body_secret = form.get(settings.client_secret_field)
    form.reject_repeated((settings.client_id_field, settings.client_secret_field))
    if authorization:
        if settings.location == "body":
            raise invalid_client(
                "client credentials are accepted in the body only", via_header=True
            )
        client_id, secret = read_basic(authorization)
        if body_secret:
            raise OAuthError("invalid_request", "client credentials sent twice")
        if body_id and body_id != client_id:
            raise OAuthError("invalid_request", "client_id differs from the Authorization header")
        return ClientCredentials(client_id, secret or None, True, certificate)
    if not body_id:
        raise invalid_client("client authentication is required", via_header=False)
    if body_secret and settings.location == "header":
        raise invalid_client(
            "client credentials are accepted in the Authorization header only", via_header=False
        )
    return ClientCredentials(body_id, body_secret, False, certificate)


def verify_client(
    client: Client | None,
    credentials: ClientCredentials,
    authorities: Sequence[x509.Certificate] = (),
) -> Client:
    """Check the secret in constant time, or the certificate; a public client must send none.
    `authorities`: the CAs of `[server] tls_client_ca`."""
    if client is None:
        secret_matches(credentials.secret or "", _DUMMY_SECRET_HASH)  # same work as a miss
        raise invalid_client("unknown client or wrong secret", via_header=credentials.via_header)
    if client.auth_method != "secret":
        return verify_certificate(client, credentials, authorities)
    if client.is_public:
        if credentials.secret:
            raise invalid_client("a public client has no secret", via_header=credentials.via_header)
        return client
    if credentials.secret is None or not _current_or_previous(credentials.secret, client):
        raise invalid_client("unknown client or wrong secret", via_header=credentials.via_header)
    return client


def _current_or_previous(secret: str, client: Client) -> bool:
    """The current secret, or the one it replaced while the rotation's grace lasts. Both are
    compared every time, so the timing does not tell which one matched."""
    current = secret_matches(secret, client.secret_hash)
    previous = secret_matches(secret, client.previous_secret_hash or _DUMMY_SECRET_HASH)
    return current or (previous and time.time() < client.previous_secret_expires_at)


def verify_certificate(
    client: Client, credentials: ClientCredentials, authorities: Sequence[x509.Certificate]
) -> Client:
    """RFC 8705 section 2: the connection's certificate proves the client, no secret does."""
    via_header = credentials.via_header
    if credentials.secret is not None:
        raise invalid_client("this client authenticates with a certificate", via_header=via_header)
    certificate = credentials.certificate
    if certificate is None:
        raise invalid_client("a client certificate is required", via_header=via_header)
    if client.auth_method == "tls_client_auth":
        # Section 2.1: the subject DN, in a certificate from a CA of tls_client_ca (not one
        # trusted in the handshake only because a self-signed client registered it).
        if certificate.issued_by_one_of(authorities) and (
            certificate.subject_dn == client.tls_subject_dn
        ):
            return client
    else:  # section 2.2: exactly the registered certificate
        registered = from_pem(client.tls_certificate or "")
        if registered is not None and same_thumbprint(
            certificate.thumbprint, registered.thumbprint
        ):
            return client
    raise invalid_client("the client certificate does not match", via_header=via_header)


class Clients:
    """Client records for the endpoints, from this process's cache when that is safe.

    With an embedded registry, a record is kept until any process changes a client (see
    db/change_counter.py): a deleted client stops working at once everywhere. A server
    database may be changed from another host, so its records are kept `storage.cache_ttl`
    seconds (default 0: never).
    """

    def __init__(self, registry: Registry, cache_ttl: float = 0, client_ca: str = "") -> None:
        self.registry = registry
        self.cache_ttl = cache_ttl
        self.client_ca = client_ca
        self._authorities: list[x509.Certificate] | None = None
        # client_id -> (the change counter's state it was read in, or when it expires; record)
        self._cache: dict[str, tuple[float, Client | None]] = {}

    async def get(self, client_id: str) -> Client | None:
        counter = self.registry.client_changes
        if counter is not None:
            state = counter.stable()
            cached = self._cache.get(client_id)
            if cached is not None and state is not None and cached[0] == state:
                return cached[1]
            client = await self.registry.get_client(client_id)
            if state is not None:
                self._remember(client_id, state, client)
            return client
        if self.cache_ttl <= 0:
            return await self.registry.get_client(client_id)
        cached = self._cache.get(client_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        client = await self.registry.get_client(client_id)
        self._remember(client_id, time.monotonic() + self.cache_ttl, client)
        return client

    async def authenticate(self, credentials: ClientCredentials) -> Client:
        """The client the credentials prove, or 401 invalid_client."""
        client = await self.get(credentials.client_id)
        return verify_client(client, credentials, self.authorities())

    def authorities(self) -> list[x509.Certificate]:
        """The CAs of `[server] tls_client_ca`, read on first use (the command line's
        commands never need them)."""
        if self._authorities is None:
            self._authorities = []
            if self.client_ca:
                try:
                    self._authorities = load_authorities(self.client_ca)
                except (OSError, ValueError) as exc:
                    log.warning("server.tls_client_ca cannot be read: %s", exc)
        return self._authorities

    def _remember(self, client_id: str, valid: float, client: Client | None) -> None:
        if len(self._cache) >= CACHE_SIZE:
            self._cache.clear()
        self._cache[client_id] = (valid, client)
