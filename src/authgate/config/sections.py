"""The settings models: one frozen pydantic model per TOML section of SPEC.md.

Each field's `description` is its meaning in docs/configuration.md, which `make docs` writes
from these models (scripts/config_docs.py).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

GrantType = Literal["authorization_code", "refresh_token", "password", "client_credentials"]
GRANT_TYPES: tuple[GrantType, ...] = (
    "authorization_code",
    "refresh_token",
    "password",
    "client_credentials",
)
Seconds = Annotated[int, Field(ge=1)]
TokenLength = Annotated[int, Field(ge=16, le=512)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class StorageSettings(Section):
    url: str = Field(
        default="sqlite:///authgate.db",
        description="registry of clients, users, consents, sessions: a SQL URL",
    )
    tokens: str = Field(default="", description="Access Token Store URL; empty: same as url")
    codes: str = Field(
        default="", description="Authorization Code Store URL; empty: same as tokens"
    )
    purge_interval: Seconds = Field(
        default=300, description="seconds between purges of expired rows in SQL stores"
    )
    purge_batch: Annotated[int, Field(ge=1)] = Field(
        default=1000, description="rows deleted per purge statement"
    )
    cache_ttl: Annotated[float, Field(ge=0)] = Field(
        default=0,
        description="seconds a process may cache a client record of a server "
        "registry; 0: never, so a deleted client stops at once (SQLite: see below)",
    )

    @field_validator("url")
    @classmethod
    def _registry_is_shared(cls, value: str) -> str:
        if value.startswith(("memory:", "redis:", "redis+cluster:")):
            raise ValueError("the registry needs a SQL database (sqlite, postgresql, mysql)")
        return value

    @field_validator("url", "tokens", "codes")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        schemes = ("memory:", "sqlite:", "postgresql", "mysql", "mariadb", "redis")
        if value and not value.startswith(schemes):
            raise ValueError(f"unsupported store URL {value!r}")
        return value

    @property
    def tokens_url(self) -> str:
        return self.tokens or self.url

    @property
    def codes_url(self) -> str:
        return self.codes or self.tokens_url


class ClientAuthSettings(Section):
    location: Literal["header", "body", "any"] = Field(
        default="header", description="where client credentials are read (header: HTTP Basic)"
    )
    client_id_field: str = Field(
        default="client_id", min_length=1, description="body field: client id"
    )
    client_secret_field: str = Field(
        default="client_secret", min_length=1, description="body field: secret"
    )


class AuthorizationCodeSettings(Section):
    code_length: TokenLength = Field(default=30, description="characters of a code")
    code_expiry: Seconds = Field(default=600, description="seconds a code can be exchanged")
    pkce: Literal["public", "always"] = Field(
        default="public",
        description="who must send a PKCE challenge (S256): public clients or every client",
    )


class TokenSettings(Section):
    access_token_expiry: Seconds = Field(
        default=3600, description="seconds an access token is valid (`expires_in`)"
    )
    access_token_length: TokenLength = Field(
        default=54, description="characters of an access token, from [A-Za-z0-9]"
    )
    access_token_type: str = Field(
        default="Bearer", min_length=1, description="token_type in responses and introspection"
    )
    refresh: Literal["new", "none", "preserve"] = Field(
        default="new",
        description="Refresh Token Details: a new refresh token each time, "
        "none, or the presented one again (where none was presented, as at the authorization "
        "code and password grants, `preserve` mints one); a refresh token goes only to a "
        "client registered for the `refresh_token` grant",
    )
    refresh_token_expiry: Seconds = Field(
        default=43200, description="seconds a refresh token is valid"
    )
    refresh_token_length: TokenLength = Field(
        default=46, description="characters of a refresh token"
    )
    refresh_grace_period: Annotated[int, Field(ge=0)] = Field(
        default=0,
        description="seconds a rotated token is re-usable: presented again, it "
        "returns the same successor",
    )
    metadata: dict[str, str] = Field(
        default_factory=dict,
        description="stored with every access token: name/value pairs "
        "that introspection returns and the gateway sends upstream",
    )
    access_token_format: Literal["opaque", "jwt"] = Field(
        default="opaque",
        description='"opaque": a random string; "jwt": an RFC 9068 JWT signed with the '
        "current key; both kept in the store by their hash",
    )
    audience: str = Field(default="", description="`aud` of a JWT access token; empty: the issuer")


class TokenOverrides(Section):
    """A flow's `[flows.<grant>.tokens]`: any subset of `[tokens]`."""

    access_token_expiry: Seconds | None = Field(
        default=None, description="this flow's `tokens.access_token_expiry`"
    )
    access_token_length: TokenLength | None = Field(
        default=None, description="this flow's `tokens.access_token_length`"
    )
    access_token_type: str | None = Field(
        default=None, description="this flow's `tokens.access_token_type`"
    )
    refresh: Literal["new", "none", "preserve"] | None = Field(
        default=None, description="this flow's `tokens.refresh`"
    )
    refresh_token_expiry: Seconds | None = Field(
        default=None, description="this flow's `tokens.refresh_token_expiry`"
    )
    refresh_token_length: TokenLength | None = Field(
        default=None, description="this flow's `tokens.refresh_token_length`"
    )
    refresh_grace_period: Annotated[int, Field(ge=0)] | None = Field(
        default=None, description="this flow's `tokens.refresh_grace_period`"
    )
    metadata: dict[str, str] | None = Field(
        default=None, description="this flow's `tokens.metadata`"
    )
    access_token_format: Literal["opaque", "jwt"] | None = Field(
        default=None, description="this flow's `tokens.access_token_format`"
    )
    audience: str | None = Field(default=None, description="this flow's `tokens.audience`")


class FlowSettings(Section):
    tokens: TokenOverrides = Field(
        default_factory=TokenOverrides,
        description="any subset of `[tokens]`, for this flow; "
        "a key left unset takes the `[tokens]` value, except that client_credentials issues "
        'no refresh token unless it sets `refresh = "new"` (RFC 6749 section 4.4.3)',
    )
    scopes: Literal["any", "all", "policy"] = Field(
        default="any", description="how requested scopes are granted"
    )
    scopes_policy: str = Field(
        default="", description='"package.module:function" when scopes = "policy"'
    )
    scopes_attribute: str = Field(
        default="scopes.for.token", description="request attribute holding approved scopes"
    )

    @model_validator(mode="after")
    def _policy_named(self) -> FlowSettings:
        if self.scopes == "policy" and ":" not in self.scopes_policy:
            raise ValueError("scopes_policy: must name 'package.module:function'")
        return self


class PasswordFlowSettings(FlowSettings):
    users: Literal["local", "ldap", "policy"] = Field(
        default="local", description="who authenticates resource owners"
    )
    policy: str = Field(default="", description='"package.module:function" when users = "policy"')
    subject_attribute: str = Field(
        default="authentication.subject.id", description="request attribute of the subject"
    )

    @model_validator(mode="after")
    def _user_policy_named(self) -> PasswordFlowSettings:
        if self.users == "policy" and ":" not in self.policy:
            raise ValueError("policy: must name 'package.module:function'")
        return self


class FlowsSettings(Section):
    authorization_code: FlowSettings = Field(
        default_factory=FlowSettings, description="the authorization code grant"
    )
    refresh_token: FlowSettings = Field(
        default_factory=FlowSettings, description="the refresh token grant"
    )
    password: PasswordFlowSettings = Field(
        default_factory=PasswordFlowSettings,
        description="the resource owner password grant, and who checks the password (the "
        "login page too)",
    )
    client_credentials: FlowSettings = Field(
        default_factory=FlowSettings, description="the client credentials grant"
    )


class LdapSettings(Section):
    url: str = Field(default="ldap://127.0.0.1:389", description="ldap:// or ldaps://")
    bind_dn: str = Field(
        default="", description="service account that searches; empty: anonymous search"
    )
    bind_password: SecretStr = Field(default=SecretStr(""), description="its password")
    user_base: str = Field(
        default="ou=people,dc=example,dc=org", description="search base of users"
    )
    user_filter: str = Field(
        default="(uid={username})",
        description='search filter of a user; AD: "(sAMAccountName={username})"',
    )
    timeout: Annotated[float, Field(gt=0)] = Field(
        default=5, description="seconds for connect and each operation"
    )
    start_tls: bool = Field(default=False, description="upgrade ldap:// with StartTLS")

    @field_validator("user_filter")
    @classmethod
    def _has_placeholder(cls, value: str) -> str:
        if "{username}" not in value:
            raise ValueError("must contain {username}")
        return value


class LockoutSettings(Section):
    max_failures: Annotated[int, Field(ge=1)] = Field(
        default=10, description="failures in a row before a lock"
    )
    wait: Seconds = Field(
        default=60, description="seconds of the first lock; doubles at each further lock"
    )
    max_wait: Seconds = Field(default=900, description="cap on one lock, seconds")
    reset: Seconds = Field(
        default=43200, description="seconds after the last failure when the count is forgotten"
    )


class MonitoringSettings(Section):
    enabled: bool = Field(default=True, description="real-time monitoring of service usage")
    client_attribute: str = Field(
        default="authentication.subject.id",
        description="attribute identifying the client (`oauth.client.id` also works)",
    )
    record_outbound: bool = Field(
        default=True, description="traffic monitor records outbound calls too"
    )
    max_clients: Annotated[int, Field(ge=1)] = Field(
        default=1000, description='distinct client labels in /metrics; more count as "other"'
    )
    traffic_retention: Seconds = Field(
        default=7 * 86400, description="seconds transactions are kept"
    )
    traffic_max_rows: Annotated[int, Field(ge=1)] = Field(
        default=100_000, description="transactions kept at most"
    )
    queue_size: Annotated[int, Field(ge=1)] = Field(
        default=10_000, description="pending records before drops (which are counted)"
    )
    metrics_token: SecretStr = Field(
        default=SecretStr(""),
        description="bearer token that opens /metrics to any peer; empty: loopback peers only",
    )


class GatewayRoute(Section):
    path: str = Field(description="path prefix guarded by this route")
    upstream: str = Field(description="base URL of the upstream API")
    sandbox_upstream: str = Field(
        default="",
        description="base URL that receives the calls made with portal sandbox keys' tokens; "
        "empty: they are refused (403)",
    )
    scopes: tuple[str, ...] = Field(default=(), description="scopes the token must carry")
    service: str = Field(default="", description="service context name; default: the path")
    timeout: Annotated[float, Field(gt=0)] = Field(
        default=30, description="seconds for the upstream to answer; then 504"
    )
    strip_prefix: bool = Field(default=False, description="remove `path` from the forwarded path")
    header_prefix: str = Field(
        default="X-Authgate-", description="prefix of identity headers sent upstream"
    )
    composite: str = Field(
        default="", description="composite service context this route also counts in"
    )
    sandbox: bool = Field(
        default=True,
        description="send `Content-Security-Policy: sandbox` with every proxied answer",
    )

    @field_validator("path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/") or (value != value.rstrip("/") and value != "/"):
            raise ValueError("must start with '/' and not end with '/'")
        return value

    @field_validator("upstream", "sandbox_upstream")
    @classmethod
    def _http(cls, value: str, info: ValidationInfo) -> str:
        if info.field_name == "sandbox_upstream" and not value:
            return value
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @property
    def service_name(self) -> str:
        return self.service or self.path


class GatewaySettings(Section):
    routes: tuple[GatewayRoute, ...] = Field(
        default=(), description="APIs guarded by access tokens, one table each"
    )

    @field_validator("routes")
    @classmethod
    def _one_route_per_path(cls, routes: tuple[GatewayRoute, ...]) -> tuple[GatewayRoute, ...]:
        paths = [route.path for route in routes]
        repeated = sorted({path for path in paths if paths.count(path) > 1})
        if repeated:
            raise ValueError(f"two routes have the path {repeated[0]!r}")
        return routes
