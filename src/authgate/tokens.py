"""Minting tokens and codes, their digests, and the records stored for them."""

from __future__ import annotations

import hashlib
import secrets
import string
import time
from dataclasses import dataclass, replace

from authgate.config import GrantType, TokenSettings
from authgate.models import Client, TokenRecord

ALPHABET = string.ascii_letters + string.digits


_UNBIASED = 248  # the largest multiple of 62 below 256: bytes at or above it are dropped
# Random byte -> character, and the bytes dropped: one C call (bytes.translate) per token
# instead of a Python loop over its bytes (a fifth of the CPU of minting a token pair).
_CHARACTERS = bytes(ALPHABET.encode()[byte % 62] for byte in range(256))
_DROPPED = bytes(range(_UNBIASED, 256))


def generate_token(length: int) -> str:
    """A random string of exactly `length` characters from [A-Za-z0-9] (SPEC.md).

    Rejection sampling, so that every character is uniform (a plain `% 62` would favour the
    first 8 characters): bytes from 248 up are dropped, the rest map to `byte % 62`.
    """
    out = b""
    while len(out) < length:
        out += secrets.token_bytes(length + 8).translate(_CHARACTERS, _DROPPED)
    return out[:length].decode()


def digest(token: str) -> str:
    """The key a store keeps for a token: tokens are high-entropy, so one SHA-256 suffices."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_grant_id() -> str:
    """32 hex characters: the time in milliseconds, then 80 random bits.

    Rising ids make an SQL store's grant index grow at its end: a batch of inserts then
    dirties one of its pages, where random ids dirtied one page per token (measured on
    SQLite: a third less work per insert). A grant id is no secret; tokens stay random.
    """
    return f"{time.time_ns() // 1_000_000:012x}{secrets.token_hex(10)}"


def now() -> int:
    return int(time.time())


def new_grant(
    client_id: str,
    scopes: tuple[str, ...],
    *,
    subject: str | None = None,
    username: str | None = None,
) -> TokenRecord:
    """The base record of a fresh grant family; `mint` sets kind, times and type."""
    return TokenRecord(
        kind="access_token",
        client_id=client_id,
        grant_id=new_grant_id(),
        scopes=scopes,
        issued_at=0,
        expires_at=0,
        subject=subject,
        username=username,
    )


@dataclass(frozen=True, slots=True)
class Binding:
    """RFC 8705 section 3: the client certificate of the token request, if any. Access tokens
    are bound to it; refresh tokens only for a public client (section 4: a confidential
    client's refresh token is already bound to its authentication)."""

    thumbprint: str | None = None
    refresh: bool = False

    def cnf(self, *, refresh: bool) -> dict[str, str]:
        if self.thumbprint is None or (refresh and not self.refresh):
            return {}
        return {"x5t#S256": self.thumbprint}


UNBOUND = Binding()


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A freshly minted token: the value for the response and the record for the store."""

    value: str
    key: str
    record: TokenRecord


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """What one successful token request hands out."""

    access: IssuedToken
    refresh: IssuedToken | None
    # The presented refresh token returned unchanged (`refresh = "preserve"`).
    preserved_refresh: str | None = None
    id_token: str | None = None  # OpenID Connect, when `openid` was granted

    @property
    def records(self) -> list[IssuedToken]:
        return [self.access] + ([self.refresh] if self.refresh else [])

    @property
    def entries(self) -> list[tuple[str, TokenRecord]]:
        """What a store keeps: (digest, record) of each token."""
        return [(t.key, t.record) for t in self.records]

    def response(self) -> dict[str, object]:
        """The RFC 6749 section 5.1 body."""
        record = self.access.record
        body: dict[str, object] = {
            "access_token": self.access.value,
            "token_type": record.token_type,
            "expires_in": record.expires_at - record.issued_at,
            "scope": " ".join(record.scopes),
        }
        refresh = self.refresh.value if self.refresh else self.preserved_refresh
        if refresh:
            body["refresh_token"] = refresh
        if self.id_token:
            body["id_token"] = self.id_token
        return body


def issues_refresh_token(client: Client, settings: TokenSettings, grant_type: GrantType) -> bool:
    """Whether a token response of `grant_type` carries a newly minted refresh token.

    `settings` are the flow's own (`[tokens]` under `[flows.<grant>.tokens]`). SPEC.md's refresh
    modes: `new` mints one; `none` never does; `preserve` hands back the presented token in the
    refresh grant and mints one where none was presented (authorization code, password).
    """
    if not client.allows_grant("refresh_token"):
        return False  # a token the client may never redeem would only be one more credential
    if settings.refresh == "new":
        return True
    # client_credentials opts in with `new` only (RFC 6749 section 4.4.3).
    return settings.refresh == "preserve" and grant_type in ("authorization_code", "password")


def mint(
    base: TokenRecord,
    settings: TokenSettings,
    *,
    client: Client,
    with_refresh: bool,
    preserved_refresh: str | None = None,
    access_scopes: tuple[str, ...] | None = None,
    binding: Binding = UNBOUND,
) -> TokenGrant:
    """Mint an access token (and a refresh token) for the grant that `base` describes.

    `base` carries client, subject, scopes and grant id; kind, times and type are set here.
    `client` is the authenticated client the tokens go to (`base.client_id`): whether it is a
    sandbox key is taken from it, never from `base`, so a code or a refresh token passes on
    what the client is now. `access_scopes` narrows the access token only: a new refresh
    token keeps the scope of the grant (RFC 6749 section 6).
    """
    issued_at = now()
    is_sandbox = client.is_sandbox
    access_value = generate_token(settings.access_token_length)
    refresh: IssuedToken | None = None
    if with_refresh:
        refresh_value = generate_token(settings.refresh_token_length)
        refresh_record = replace(
            base,
            kind="refresh_token",
            issued_at=issued_at,
            expires_at=issued_at + settings.refresh_token_expiry,
            token_type="refresh_token",
            metadata=dict(settings.metadata) | dict(base.metadata),
            redirect_uri=None,
            code_challenge=None,
            nonce=None,
            successor=None,
            cnf=binding.cnf(refresh=True),
            is_sandbox=is_sandbox,
        )
        refresh = IssuedToken(refresh_value, digest(refresh_value), refresh_record)
    access_record = replace(
        base,
        kind="access_token",
        scopes=base.scopes if access_scopes is None else access_scopes,
        issued_at=issued_at,
        expires_at=issued_at + settings.access_token_expiry,
        token_type=settings.access_token_type,
        metadata=dict(settings.metadata) | dict(base.metadata),
        redirect_uri=None,
        code_challenge=None,
        nonce=None,
        successor=None,
        cnf=binding.cnf(refresh=False),
        is_sandbox=is_sandbox,
    )
    access = IssuedToken(access_value, digest(access_value), access_record)
    return TokenGrant(access, refresh, preserved_refresh)
