"""The records authgate keeps: clients, users and token records. Frozen, slotted, typed."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal

import orjson

from authgate.config import GrantType

TokenKind = Literal["access_token", "refresh_token", "authorization_code"]
# How a confidential client authenticates: its secret, or a certificate (RFC 8705 section 2).
AuthMethod = Literal["secret", "tls_client_auth", "self_signed_tls_client_auth"]
AUTH_METHODS: tuple[AuthMethod, ...] = ("secret", "tls_client_auth", "self_signed_tls_client_auth")


@dataclass(frozen=True, slots=True)
class Client:
    """A registered client application (the Client Application Registry)."""

    client_id: str
    name: str
    secret_hash: str | None  # SHA-256 hex of the secret; None for a public client
    redirect_uris: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    grant_types: tuple[GrantType, ...] = ("authorization_code", "refresh_token")
    is_public: bool = False
    can_introspect: bool = False
    created_at: int = 0
    # After a rotation with a grace period: the old secret's hash and until when it works.
    previous_secret_hash: str | None = None
    previous_secret_expires_at: int = 0
    auth_method: AuthMethod = "secret"
    tls_subject_dn: str | None = None  # tls_client_auth: the normalised RFC 4514 subject
    tls_certificate: str | None = None  # self_signed_tls_client_auth: the PEM certificate
    # A developer portal key: its application and "production" or "sandbox" (else None).
    app_id: str | None = None
    environment: str | None = None

    @property
    def is_sandbox(self) -> bool:
        return self.environment == "sandbox"

    def allows_grant(self, grant_type: str) -> bool:
        return grant_type in self.grant_types

    @property
    def may_introspect(self) -> bool:
        """Introspection needs a confidential client: one whose id alone, which is no
        secret, cannot read tokens (a public client's flag, from an old row, counts for
        nothing)."""
        return self.can_introspect and not self.is_public

    def as_public_dict(self) -> dict[str, Any]:
        """What `client show`/`client list` print: never the secret or its hash."""
        return {
            "client_id": self.client_id,
            "name": self.name,
            "redirect_uris": list(self.redirect_uris),
            "scopes": list(self.scopes),
            "grant_types": list(self.grant_types),
            "public": self.is_public,
            "introspect": self.can_introspect,
            "created_at": self.created_at,
            **self._tls_dict(),
        }

    def _tls_dict(self) -> dict[str, Any]:
        if self.auth_method == "secret":
            return {}
        found = {"auth_method": self.auth_method, "tls_subject_dn": self.tls_subject_dn}
        if self.tls_certificate:
            found["tls_certificate"] = self.tls_certificate
        return {k: v for k, v in found.items() if v is not None}


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """What a store keeps under the digest of a token or code (never the token itself)."""

    kind: TokenKind
    client_id: str
    grant_id: str  # every token descended from one grant shares it (family revocation)
    scopes: tuple[str, ...]
    issued_at: int
    expires_at: int
    subject: str | None = None  # `sub`: the user, or the client for a client token
    username: str | None = None
    token_type: str = "Bearer"
    metadata: dict[str, str] = field(default_factory=dict)
    # Authorization codes only: the binding checked at the token endpoint.
    redirect_uri: str | None = None
    code_challenge: str | None = None
    # OpenID Connect: when the user logged in (every token of the grant), and the
    # authorization request's `nonce` (the code only: it goes into the first id token).
    auth_time: int | None = None
    nonce: str | None = None
    # Refresh tokens only: RFC 9700 section 4.14.2 grace-period successor, sealed with a key
    # derived from the presented refresh token, so a copy of the store cannot open it.
    successor: str | None = None
    consumed: bool = False  # set by the store: the code was exchanged / the token rotated
    # RFC 8705 section 3: {"x5t#S256": thumbprint} of the client certificate the token is
    # bound to (RFC 7800 `cnf`); empty for an unbound token. Introspection shows it as is.
    cnf: dict[str, str] = field(default_factory=dict)
    # Access and refresh tokens of a developer portal sandbox key (`Client.is_sandbox`),
    # written at issue time so that the gateway routes a call without reading the client.
    is_sandbox: bool = False

    def is_expired(self, now: float) -> bool:
        return now >= self.expires_at

    @property
    def certificate_thumbprint(self) -> str | None:
        """The thumbprint a bound token must be presented with; None: not bound."""
        return self.cnf.get("x5t#S256")

    def to_json(self) -> str:
        # By hand rather than dataclasses.asdict, which deep-copies: this runs for every token.
        # Unset optional fields are left out, so an ordinary token's record stays as small.
        data = {}
        for name in _RECORD_FIELDS:
            value = getattr(self, name)
            if value is not None and value is not False and value != () and value != {}:
                data[name] = value
        return orjson.dumps(data).decode()

    @classmethod
    def from_json(cls, text: str | bytes, *, consumed: bool = False) -> TokenRecord:
        data = orjson.loads(text)
        data.pop("parent", None)  # written by earlier versions, never read
        data["scopes"] = tuple(data.get("scopes", ()))
        data["consumed"] = consumed or bool(data.get("consumed"))
        return cls(**data)


_RECORD_FIELDS = tuple(f.name for f in fields(TokenRecord) if f.name != "consumed")


@dataclass(frozen=True, slots=True)
class User:
    """A resource owner as a user repository answers for it."""

    username: str
    subject: str
