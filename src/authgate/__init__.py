"""authgate: a self-hosted OAuth 2.0 authorization server with an API-gateway front."""

from typing import TYPE_CHECKING, Any

from authgate.config import Settings, load_settings
from authgate.errors import ConfigError, OAuthError, StoreUnavailable

if TYPE_CHECKING:
    from authgate.app import create_app

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


def __getattr__(name: str) -> Any:
    # The web application is imported on first use, so that `authgate client list` and
    # the other commands start without loading the server.
    if name == "create_app":
        from authgate.app import create_app

        return create_app
    raise AttributeError(f"module 'authgate' has no attribute {name!r}")
