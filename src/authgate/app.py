"""`create_app(settings)`: the ASGI application and its route table."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from authgate.config import Settings
from authgate.endpoints import authorize, introspect, metadata, revoke, token
from authgate.endpoints.fast_lane import json_endpoint
from authgate.endpoints.responses import oauth_error, server_error, unavailable
from authgate.errors import OAuthError, StoreUnavailable
from authgate.flows import build_authorization_request, build_flows
from authgate.gateway.proxy import Gateway, GatewayLane, gateway_routes
from authgate.limits import BodyLimit
from authgate.monitoring.metrics import Monitor
from authgate.monitoring.middleware import MonitorMiddleware, metrics_endpoint, observe
from authgate.monitoring.traffic import TrafficLog
from authgate.pages import playground
from authgate.pages.manager import manager_routes
from authgate.pages.sessions import purge_sessions
from authgate.pages.views import STATIC_DIR
from authgate.services import Services
from authgate.tokens import now

log = logging.getLogger("authgate")


async def _purge_forever(services: Services) -> None:
    """Expired tokens and codes go away by themselves (Redis expires keys on its own)."""
    interval = services.settings.storage.purge_interval
    while True:
        await asyncio.sleep(interval)
        try:
            for store in {id(s): s for s in (services.tokens, services.codes)}.values():
                await store.purge(now())
            await services.lockout.purge(now())
            await purge_sessions(services.registry, now())
        except StoreUnavailable as exc:
            log.warning("purge skipped: %s", exc)


async def _on_oauth_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OAuthError)  # noqa: S101 - Starlette dispatches by type
    return oauth_error(exc)


async def _on_unavailable(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StoreUnavailable)  # noqa: S101 - Starlette dispatches by type
    return unavailable(exc)


async def _on_crash(request: Request, exc: Exception) -> Response:
    log.error("unhandled error on %s", request.url.path, exc_info=exc)
    return server_error()


_FAST_PATHS = {
    "/oauth2/token": json_endpoint(token.token),
    "/oauth2/introspect": json_endpoint(introspect.introspect),
    "/oauth2/revoke": json_endpoint(revoke.revoke),
}


class AuthgateApp(Starlette):
    """Starlette, with the hot-path endpoints answered before the router (see fast_lane)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gateway_lane = GatewayLane(self.routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            fast = _FAST_PATHS.get(scope["path"])
            if fast is not None:
                scope["app"] = self
                await observe(self.state.monitor, fast, scope, receive, send)
                return
            proxy = self.gateway_lane.match(scope)
            if proxy is not None:
                scope["app"] = self
                await observe(self.state.monitor, proxy.serve, scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings, *, demo: bool = False) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        services = await Services.open(settings)
        app.state.services = services
        app.state.flows = build_flows(services)
        app.state.authorization_request = build_authorization_request(services)
        monitor = app.state.monitor = Monitor(settings, services.events)
        if settings.monitoring.enabled:
            monitor.traffic = TrafficLog(services.registry.engine, settings.monitoring, monitor,
                                         sqlite=services.registry.sqlite)
            monitor.traffic.start()
        app.state.gateway = Gateway(settings.gateway, services)
        if demo:
            app.state.demo = await playground.seed(services)
        purge = asyncio.create_task(_purge_forever(services))
        # What start-up built lives as long as the process: moved out of the collector's sight,
        # a full collection walks only what requests create, not every module, class and table
        # object. Without this each full pass took about 40 ms, the p99 of every endpoint.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            purge.cancel()
            await app.state.gateway.close()
            if monitor.traffic is not None:
                await monitor.traffic.close()
            await services.close()

    routes: list[BaseRoute] = [
        Route("/.well-known/oauth-authorization-server", metadata.server_metadata),
        Route("/oauth2/authorize", authorize.authorize, methods=["GET", "POST"]),
        Route("/healthz", metadata.healthz),
        Route("/readyz", metadata.readyz),
        Route("/metrics", metrics_endpoint),
        *manager_routes(),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    if demo:
        routes += playground.routes()
    routes += gateway_routes(settings.gateway)
    gateway_paths = [route.path for route in settings.gateway.routes]
    return AuthgateApp(
        routes=routes,
        middleware=[
            Middleware(MonitorMiddleware),
            Middleware(BodyLimit, exempt_prefixes=gateway_paths),
        ],
        exception_handlers={
            OAuthError: _on_oauth_error,
            StoreUnavailable: _on_unavailable,
            Exception: _on_crash,
        },
        lifespan=lifespan,
    )
