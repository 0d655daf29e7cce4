"""`authgate serve`: uvicorn with uvloop and httptools, one or several worker processes.

uvicorn runs the server; each connection is authgate's own HTTP/1.1 protocol on httptools,
with read deadlines (authgate.server_protocol).

Worker processes build their settings as the command did: `load_settings()` over the same
file and environment, then the command line's options. Only the file's path and those options
travel to them (in `AUTHGATE_SERVE_OPTIONS`), never the settings, which hold secrets: a
process's environment is readable in /proc by its user and inherited by everything it starts.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette

from authgate.app import create_app
from authgate.config import ServerSettings, Settings, load_settings
from authgate.server_protocol import HttpProtocol
from authgate.server_tls import ServerTls, context_factory

OPTIONS_ENV = "AUTHGATE_SERVE_OPTIONS"
KEEP_ALIVE_SECONDS = 5  # an idle kept-alive connection is closed after this (SPEC.md, Hardening)


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """What `serve` adds to the configuration sources: the file it read and its own options."""

    config: str | None = None  # absolute path of the TOML file; None: no file
    host: str | None = None  # None: the configured value
    port: int | None = None
    workers: int | None = None
    demo: bool = False
    metrics_directory: str | None = None  # where the workers share their counts

    def apply(self, settings: Settings) -> Settings:
        return settings.with_server(host=self.host, port=self.port, workers=self.workers)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServeOptions:
        return cls(**json.loads(text))


def app_factory() -> Starlette:
    """A worker process's app: uvicorn calls this in each worker it spawns."""
    options = ServeOptions.from_json(os.environ[OPTIONS_ENV])
    settings = options.apply(load_settings(options.config))
    shared = Path(options.metrics_directory) if options.metrics_directory else None
    return create_app(settings, demo=options.demo, metrics_directory=shared)


def serve(settings: Settings, options: ServeOptions) -> int:
    """Run the server; `settings` were loaded from `options.config` by the caller."""
    settings = options.apply(settings)
    server = settings.server
    if server.tls:
        ServerTls(server)  # a missing or unreadable file stops the start here, with one line
    if server.workers == 1:
        # One process: uvicorn takes the app itself, nothing goes through the environment.
        _run(create_app(settings, demo=options.demo), server)
        return 0
    # Several: uvicorn spawns fresh interpreters that import the factory by name, and they
    # inherit this process's environment. Their counts meet in a directory of this run
    # (private to the user: it names clients), so each worker's /metrics shows the sum.
    with tempfile.TemporaryDirectory(prefix="authgate-metrics-") as shared:
        options = dataclasses.replace(options, metrics_directory=shared)
        os.environ[OPTIONS_ENV] = options.to_json()
        _run("authgate.server:app_factory", server, factory=True)
    return 0


def connection_options(server: ServerSettings) -> dict[str, Any]:
    """uvicorn's options for HTTPS and for slow and idle clients (SPEC.md, Hardening)."""
    protocol = functools.partial(  # a partial, not a subclass: workers receive it pickled
        HttpProtocol,
        header_timeout=server.header_timeout,
        body_timeout=server.body_timeout,
        max_connections=server.max_connections,
    )
    tls: dict[str, Any] = {}
    if server.tls:  # a partial again: each worker builds its own context in its own loop
        tls["ssl_context_factory"] = functools.partial(context_factory, server)
    return {
        **tls,
        "http": protocol,
        "timeout_keep_alive": KEEP_ALIVE_SECONDS,
        # X-Forwarded-* only from `[server] forwarded_allow_ips`, read by the app itself
        # (authgate.forwarded), never by uvicorn's default trust of 127.0.0.1.
        "proxy_headers": False,
    }


def _run(app: Starlette | str, server: ServerSettings, *, factory: bool = False) -> None:
    uvicorn.run(
        app,
        factory=factory,
        host=server.host,
        port=server.port,
        workers=server.workers,
        loop="uvloop",
        access_log=False,
        server_header=False,
        log_level="info",
        **connection_options(server),
    )
