"""Settings: one frozen pydantic model per TOML section of SPEC.md, and `load_settings()`.

Order of precedence: defaults, then the TOML file, then `AUTHGATE_<SECTION>__<KEY>` variables.
Every failure names the dotted key, so a bad configuration stops the program with one line.
"""

from __future__ import annotations

import json
import logging
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from authgate.errors import ConfigError

log = logging.getLogger("authgate.config")

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
    url: str = "sqlite:///authgate.db"  # registry of clients, users, consents, sessions
    tokens: str = ""  # Access Token Store URL; empty: same as url
    codes: str = ""  # Authorization Code Store URL; empty: same as tokens
    purge_interval: Seconds = 300  # seconds between purges of expired rows in SQL stores
    purge_batch: Annotated[int, Field(ge=1)] = 1000  # rows deleted per purge statement
    # seconds a process may cache a client record of a server registry (SQLite: see Services)
    cache_ttl: Annotated[float, Field(ge=0)] = 0

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
    location: Literal["header", "body", "any"] = "header"  # where client credentials are read
    client_id_field: str = Field(default="client_id", min_length=1)  # body field: client id
    client_secret_field: str = Field(default="client_secret", min_length=1)  # body field: secret


class AuthorizationCodeSettings(Section):
    code_length: TokenLength = 30  # characters of a code
    code_expiry: Seconds = 600  # seconds a code can be exchanged
    pkce: Literal["public", "always"] = "public"  # who must send a PKCE challenge


class TokenSettings(Section):
    access_token_expiry: Seconds = 3600  # seconds
    access_token_length: TokenLength = 54  # characters
    access_token_type: str = Field(default="Bearer", min_length=1)  # token_type in responses
    refresh: Literal["new", "none", "preserve"] = "new"  # Refresh Token Details
    refresh_token_expiry: Seconds = 43200  # seconds
    refresh_token_length: TokenLength = 46  # characters
    refresh_grace_period: Annotated[int, Field(ge=0)] = 0  # seconds a rotated token is re-usable
    metadata: dict[str, str] = Field(default_factory=dict)  # stored with every access token


class TokenOverrides(Section):
    """A flow's `[flows.<grant>.tokens]`: any subset of `[tokens]`."""

    access_token_expiry: Seconds | None = None
    access_token_length: TokenLength | None = None
    access_token_type: str | None = None
    refresh: Literal["new", "none", "preserve"] | None = None
    refresh_token_expiry: Seconds | None = None
    refresh_token_length: TokenLength | None = None
    refresh_grace_period: Annotated[int, Field(ge=0)] | None = None
    metadata: dict[str, str] | None = None


class FlowSettings(Section):
    tokens: TokenOverrides = Field(default_factory=TokenOverrides)
    scopes: Literal["any", "all", "policy"] = "any"  # how requested scopes are granted
    scopes_policy: str = ""  # "package.module:function" when scopes = "policy"
    scopes_attribute: str = "scopes.for.token"  # request attribute holding approved scopes

    @model_validator(mode="after")
    def _policy_named(self) -> FlowSettings:
        if self.scopes == "policy" and ":" not in self.scopes_policy:
            raise ValueError("scopes_policy: must name 'package.module:function'")
        return self


class PasswordFlowSettings(FlowSettings):
    users: Literal["local", "ldap", "policy"] = "local"  # who authenticates resource owners
    policy: str = ""  # "package.module:function" when users = "policy"
    subject_attribute: str = "authentication.subject.id"  # request attribute of the subject

    @model_validator(mode="after")
    def _user_policy_named(self) -> PasswordFlowSettings:
        if self.users == "policy" and ":" not in self.policy:
            raise ValueError("policy: must name 'package.module:function'")
        return self


class FlowsSettings(Section):
    authorization_code: FlowSettings = Field(default_factory=FlowSettings)
    refresh_token: FlowSettings = Field(default_factory=FlowSettings)
    password: PasswordFlowSettings = Field(default_factory=PasswordFlowSettings)
    client_credentials: FlowSettings = Field(default_factory=FlowSettings)


class LdapSettings(Section):
    url: str = "ldap://127.0.0.1:389"  # ldap:// or ldaps://
    bind_dn: str = ""  # service account that searches; empty: anonymous search
    bind_password: SecretStr = SecretStr("")  # its password
    user_base: str = "ou=people,dc=example,dc=org"  # search base of users
    user_filter: str = "(uid={username})"  # AD: "(sAMAccountName={username})"
    timeout: Annotated[float, Field(gt=0)] = 5  # seconds for connect and each operation
    start_tls: bool = False  # upgrade ldap:// with StartTLS

    @field_validator("user_filter")
    @classmethod
    def _has_placeholder(cls, value: str) -> str:
        if "{username}" not in value:
            raise ValueError("must contain {username}")
        return value


class LockoutSettings(Section):
    max_failures: Annotated[int, Field(ge=1)] = 10  # failures in a row before a lock
    wait: Seconds = 60  # seconds of the first lock; doubles at each further lock
    max_wait: Seconds = 900  # cap on one lock, seconds
    reset: Seconds = 43200  # seconds after the last failure when the count is forgotten


class MonitoringSettings(Section):
    enabled: bool = True  # real-time monitoring of service usage
    client_attribute: str = "authentication.subject.id"  # attribute identifying the client
    record_outbound: bool = True  # traffic monitor records outbound calls too
    max_clients: Annotated[int, Field(ge=1)] = 1000  # distinct client labels in /metrics
    traffic_retention: Seconds = 7 * 86400  # seconds transactions are kept
    traffic_max_rows: Annotated[int, Field(ge=1)] = 100_000  # transactions kept at most
    queue_size: Annotated[int, Field(ge=1)] = 10_000  # pending records before drops


class GatewayRoute(Section):
    path: str  # path prefix guarded by this route
    upstream: str  # base URL of the upstream API
    scopes: tuple[str, ...] = ()  # scopes the token must carry
    service: str = ""  # service context name; default: the path
    timeout: Annotated[float, Field(gt=0)] = 30  # seconds for the upstream to answer
    strip_prefix: bool = False  # remove `path` from the forwarded path
    header_prefix: str = "X-Authgate-"  # prefix of identity headers sent upstream
    composite: str = ""  # composite service context this route also counts in

    @field_validator("path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/") or (value != value.rstrip("/") and value != "/"):
            raise ValueError("must start with '/' and not end with '/'")
        return value

    @field_validator("upstream")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @property
    def service_name(self) -> str:
        return self.service or self.path


class GatewaySettings(Section):
    routes: tuple[GatewayRoute, ...] = ()


class ServerSettings(Section):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8080
    workers: Annotated[int, Field(ge=1)] = 1


class Settings(Section):
    issuer: str = ""  # default: http://HOST:PORT
    server: ServerSettings = Field(default_factory=ServerSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    client_auth: ClientAuthSettings = Field(default_factory=ClientAuthSettings)
    authorization_code: AuthorizationCodeSettings = Field(default_factory=AuthorizationCodeSettings)
    tokens: TokenSettings = Field(default_factory=TokenSettings)
    flows: FlowsSettings = Field(default_factory=FlowsSettings)
    ldap: LdapSettings = Field(default_factory=LdapSettings)
    lockout: LockoutSettings = Field(default_factory=LockoutSettings)
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)
    gateway: GatewaySettings = Field(default_factory=GatewaySettings)

    @field_validator("issuer")
    @classmethod
    def _issuer_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        if "?" in value or "#" in value:
            raise ValueError("must not have a query or fragment (RFC 8414 section 2)")
        return value

    def effective_issuer(self) -> str:
        return self.issuer or f"http://{self.server.host}:{self.server.port}"

    def token_settings(self, grant_type: GrantType) -> TokenSettings:
        """`[tokens]` with the flow's own `[flows.<grant>.tokens]` laid over it."""
        overrides = getattr(self.flows, grant_type).tokens.model_dump(exclude_none=True)
        if grant_type == "client_credentials" and "refresh" not in overrides:
            overrides["refresh"] = "none"  # RFC 6749 section 4.4.3
        return self.tokens.model_copy(update=overrides)

    def flow(self, grant_type: GrantType) -> FlowSettings:
        flow: FlowSettings = getattr(self.flows, grant_type)
        return flow

    def with_server(self, **values: Any) -> Settings:
        """A copy with `serve`'s command-line options applied."""
        given = {k: v for k, v in values.items() if v is not None}
        return self.model_copy(update={"server": self.server.model_copy(update=given)})


def load_settings(
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Read the TOML file (if any) and the environment; raise ConfigError naming the key."""
    environ = os.environ if environ is None else environ
    path = path or environ.get("AUTHGATE_CONFIG") or None
    data: dict[str, Any] = {}
    if path:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"configuration file {path} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"configuration file {path} cannot be read: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"configuration file {path} is not valid TOML: {exc}") from None
    for name, raw in environ.items():
        if name.startswith("AUTHGATE_") and "__" in name:
            _apply_env(data, name, raw)
    if environ.get("AUTHGATE_ISSUER"):
        data["issuer"] = environ["AUTHGATE_ISSUER"]  # the one top-level key
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_first_error(exc)) from None
    _warn_weak(settings)
    return settings


def _apply_env(data: dict[str, Any], name: str, raw: str) -> None:
    parts = [p.lower() for p in name[len("AUTHGATE_") :].split("__")]
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{name}: {'.'.join(parts)} is not a section")
        node = child
    node[parts[-1]] = _parse_env_value(raw)


def _parse_env_value(raw: str) -> Any:
    """Environment values are TOML-ish: numbers, booleans, arrays and tables parse as JSON."""
    lowered = raw.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if raw.strip()[:1] in "[{0123456789-":
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    key = ".".join(str(part) for part in error["loc"]) or "configuration"
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        message = "unknown key"
    message = message.removeprefix("Value error, ")
    return f"{key}: {message}"


def _warn_weak(settings: Settings) -> None:
    lengths = {"authorization_code.code_length": settings.authorization_code.code_length}
    for grant in GRANT_TYPES:
        tokens = settings.token_settings(grant)
        lengths[f"flows.{grant}.tokens.access_token_length"] = tokens.access_token_length
        lengths[f"flows.{grant}.tokens.refresh_token_length"] = tokens.refresh_token_length
    for key, length in lengths.items():
        if length < 22:
            log.warning("%s = %d gives under 128 bits of randomness", key, length)
