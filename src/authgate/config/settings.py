"""`Settings`, the whole configuration, and `load_settings()`.

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
from typing import Any

from pydantic import Field, ValidationError, field_validator

from authgate.config.oidc import OidcSettings
from authgate.config.portal import PortalSettings
from authgate.config.sections import (
    GRANT_TYPES,
    AuthorizationCodeSettings,
    ClientAuthSettings,
    FlowSettings,
    FlowsSettings,
    GatewaySettings,
    GrantType,
    LdapSettings,
    LockoutSettings,
    MonitoringSettings,
    Section,
    StorageSettings,
    TokenSettings,
)
from authgate.config.server import ServerSettings
from authgate.errors import ConfigError

log = logging.getLogger("authgate.config")


class Settings(Section):
    issuer: str = Field(
        default="",
        description="issuer identifier, exactly as in the metadata and every "
        "`iss`; default: http(s)://HOST:PORT",
    )
    server: ServerSettings = Field(
        default_factory=ServerSettings, description="the HTTP server of `authgate serve`"
    )
    storage: StorageSettings = Field(
        default_factory=StorageSettings,
        description="where clients, users, consents, tokens and codes are kept",
    )
    client_auth: ClientAuthSettings = Field(
        default_factory=ClientAuthSettings,
        description="how clients authenticate at the token, introspection and revocation endpoints",
    )
    authorization_code: AuthorizationCodeSettings = Field(
        default_factory=AuthorizationCodeSettings,
        description="codes of the authorization code flow",
    )
    tokens: TokenSettings = Field(
        default_factory=TokenSettings,
        description="access and refresh tokens of every flow, unless the flow overrides them",
    )
    flows: FlowsSettings = Field(default_factory=FlowsSettings, description="settings of one grant")
    ldap: LdapSettings = Field(
        default_factory=LdapSettings,
        description='the directory behind users = "ldap" (Active Directory or OpenLDAP)',
    )
    lockout: LockoutSettings = Field(
        default_factory=LockoutSettings,
        description="brute-force protection of the login form and the password grant",
    )
    monitoring: MonitoringSettings = Field(
        default_factory=MonitoringSettings,
        description="real-time monitoring (/metrics) and the traffic monitor",
    )
    gateway: GatewaySettings = Field(default_factory=GatewaySettings, description="the API gateway")
    oidc: OidcSettings = Field(
        default_factory=OidcSettings,
        description="OpenID Connect: id tokens and the keys that sign them and JWT access tokens",
    )
    portal: PortalSettings = Field(
        default_factory=PortalSettings,
        description="the developer portal: self-service applications and their keys",
    )

    @field_validator("issuer")
    @classmethod
    def _issuer_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        if "?" in value or "#" in value:
            raise ValueError("must not have a query or fragment (RFC 8414 section 2)")
        return value

    def effective_issuer(self) -> str:
        scheme = "https" if self.server.tls else "http"
        return self.issuer or f"{scheme}://{self.server.host}:{self.server.port}"

    def token_settings(self, grant_type: GrantType) -> TokenSettings:
        """`[tokens]` with the flow's own `[flows.<grant>.tokens]` laid over it."""
        overrides = getattr(self.flows, grant_type).tokens.model_dump(exclude_none=True)
        if grant_type == "client_credentials" and "refresh" not in overrides:
            overrides["refresh"] = "none"  # RFC 6749 section 4.4.3
        return self.tokens.model_copy(update=overrides)

    def audiences(self) -> frozenset[str]:
        """Every `aud` a JWT access token of some flow carries."""
        return frozenset(
            self.token_settings(grant).audience or self.effective_issuer() for grant in GRANT_TYPES
        )

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
