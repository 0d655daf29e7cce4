"""Settings: one frozen pydantic model per TOML section of SPEC.md, and `load_settings()`."""

from authgate.config.oidc import OidcSettings, SigningAlg
from authgate.config.portal import RESERVED_SCOPES, PortalSettings
from authgate.config.sections import (
    GRANT_TYPES,
    AuthorizationCodeSettings,
    ClientAuthSettings,
    FlowSettings,
    FlowsSettings,
    GatewayRoute,
    GatewaySettings,
    GrantType,
    LdapSettings,
    LockoutSettings,
    MonitoringSettings,
    PasswordFlowSettings,
    Section,
    StorageSettings,
    TokenOverrides,
    TokenSettings,
)
from authgate.config.server import ServerSettings
from authgate.config.settings import Settings, load_settings

__all__ = [
    "GRANT_TYPES",
    "RESERVED_SCOPES",
    "AuthorizationCodeSettings",
    "ClientAuthSettings",
    "FlowSettings",
    "FlowsSettings",
    "GatewayRoute",
    "GatewaySettings",
    "GrantType",
    "LdapSettings",
    "LockoutSettings",
    "MonitoringSettings",
    "OidcSettings",
    "PasswordFlowSettings",
    "PortalSettings",
    "Section",
    "ServerSettings",
    "Settings",
    "SigningAlg",
    "StorageSettings",
    "TokenOverrides",
    "TokenSettings",
    "load_settings",
]
