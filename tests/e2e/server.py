"""A real authgate over real HTTP: uvicorn in a thread on a free loopback port."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
import uvicorn
from starlette.applications import Starlette

from authgate.app import create_app
from authgate.config import Settings, load_settings
from authgate.models import Client
from authgate.registry import Registry
from authgate.server import connection_options
from authgate.services import Services


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class RunningServer:
    url: str
    settings: Settings
    _loop: asyncio.AbstractEventLoop
    _app: Starlette

    @property
    def services(self) -> Services:
        services: Services = self._app.state.services
        return services

    def run(self, coro: Any) -> Any:
        """Run a coroutine on the server's own loop, in its thread, and wait for the result.

        The server's stores belong to that loop, so a test awaits nothing of them itself, even
        an `async def` one: it hands the coroutine over here.
        """
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    def create_client(self, name: str = "app", **options: Any) -> tuple[Client, str | None]:
        registry: Registry = self.services.registry
        result: tuple[Client, str | None] = self.run(registry.create_client(name, **options))
        return result

    def create_user(self, username: str, password: str) -> None:
        self.run(self.services.registry.create_user(username, password))

    def metadata(self) -> dict[str, Any]:
        body: dict[str, Any] = httpx.get(
            f"{self.url}/.well-known/oauth-authorization-server"
        ).json()
        return body


@contextlib.contextmanager
def serve_in_thread(
    app: Any,
    port: int,
    *,
    lifespan: Literal["auto", "on", "off"] = "on",
    options: dict[str, Any] | None = None,
) -> Iterator[asyncio.AbstractEventLoop]:
    """Run an ASGI app with uvicorn on 127.0.0.1:`port` in a thread; yields its event loop.
    `options`: more of uvicorn's, such as `authgate serve` passes."""
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan=lifespan,
            **(options or {}),
        )
    )
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(server.serve(),), daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the server on port {port} did not start")
        time.sleep(0.02)
    try:
        yield loop
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        loop.close()


@contextlib.contextmanager
def run_server(
    tmp_path: Path, config: dict[str, str] | None = None, *, demo: bool = False
) -> Iterator[RunningServer]:
    """Start authgate with `config` as AUTHGATE_* style overrides (dotted keys)."""
    port = free_port()
    environ = {
        "AUTHGATE_STORAGE__URL": f"sqlite:///{tmp_path}/authgate.db",
        "AUTHGATE_SERVER__PORT": str(port),
    }
    for key, value in (config or {}).items():
        environ["AUTHGATE_" + key.upper().replace(".", "__")] = value
    settings = load_settings(environ=environ)
    app = create_app(settings, demo=demo)
    with serve_in_thread(app, port, options=connection_options(settings.server)) as loop:
        scheme = "https" if settings.server.tls else "http"
        url = f"{scheme}://127.0.0.1:{port}"
        yield RunningServer(url=url, settings=settings, _loop=loop, _app=app)
