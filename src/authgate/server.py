"""`authgate serve`: uvicorn with uvloop and httptools, one or several worker processes."""

from __future__ import annotations

import os

import uvicorn
from starlette.applications import Starlette

from authgate.app import create_app
from authgate.config import Settings

# Worker processes rebuild the settings from here, after any command-line overrides.
SETTINGS_ENV = "AUTHGATE_SERVE_SETTINGS"
DEMO_ENV = "AUTHGATE_SERVE_DEMO"


def app_factory() -> Starlette:
    settings = Settings.model_validate_json(os.environ[SETTINGS_ENV])
    return create_app(settings, demo=os.environ.get(DEMO_ENV) == "1")


def serve(settings: Settings, *, demo: bool = False) -> int:
    server = settings.server
    os.environ[SETTINGS_ENV] = settings.model_dump_json()
    os.environ[DEMO_ENV] = "1" if demo else "0"
    uvicorn.run(
        "authgate.server:app_factory",
        factory=True,
        host=server.host,
        port=server.port,
        workers=server.workers,
        loop="uvloop",
        http="httptools",
        access_log=False,
        server_header=False,
        log_level="info",
    )
    return 0
