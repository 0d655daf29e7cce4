"""authgate: a self-hosted OAuth 2.0 authorization server with an API-gateway front."""

from authgate.app import create_app
from authgate.config import Settings, load_settings
from authgate.errors import ConfigError, OAuthError, StoreUnavailable

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "OAuthError",
    "Settings",
    "StoreUnavailable",
    "__version__",
    "create_app",
    "load_settings",
]
