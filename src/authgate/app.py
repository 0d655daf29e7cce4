"""`create_app(settings)`: the ASGI application and its route table."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from authgate.config import GatewayRoute, Settings
from authgate.endpoints import (
    authorize,
    discovery,
    introspect,
    logout,
    metadata,
    revoke,
    token,
    userinfo,
)
from authgate.endpoints.admin_api import JSON_APIS
from authgate.endpoints.fast_lane import json_endpoint
from authgate.endpoints.json_api import JsonApi
from authgate.endpoints.responses import error_response
from authgate.errors import OAuthError, StoreUnavailable
from authgate.flows import build_authorization_request, build_flows
from authgate.forwarded import behind_proxies
from authgate.gateway.proxy import Gateway, RouteProxy
from authgate.gateway.route_updates import RouteUpdates
from authgate.limits import read_body_or_refuse, replay
from authgate.monitoring.asgi import metrics_endpoint, observe
from authgate.monitoring.metrics import Monitor
from authgate.monitoring.traffic import TrafficLog
from authgate.pages import login_csrf, playground
from authgate.pages import logout as page_logout
from authgate.pages.manager import manager_routes
from authgate.pages.portal import demo as portal_demo
from authgate.pages.portal import portal_routes
from authgate.pages.sessions import purge_sessions
from authgate.pages.views import STATIC_DIR
from authgate.paths import is_normal, request_path
from authgate.routing import GatewayPath, OwnPath, RouteMatch, RouteTable
from authgate.server_tls import trust_registered_forever
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
            await services.admin_lockout.purge(now())
            await purge_sessions(services.registry, now())
        except StoreUnavailable as exc:
            log.warning("purge skipped: %s", exc)


async def _on_error(request: Request, exc: Exception) -> Response:
    return error_response(exc, request.url.path)


class AuthgateApp(Starlette):
    """Starlette for the pages, behind the one route table: every request is matched once,
    counted in its route's service context, and its body read whole under the limit unless
    the route streams it; then its handler answers (the router, for the pages)."""

    route_table: RouteTable
    entry: ASGIApp  # `route`, behind what trusted proxies say (forwarded.py)
    json_apis: Sequence[JsonApi] = JSON_APIS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)  # lifespan
            return
        scope["app"] = self
        await self.entry(scope, receive, send)

    async def route(self, scope: Scope, receive: Receive, send: Send) -> None:
        if is_normal(request_path(scope)):
            match = self.route_table.match(scope["path"])
        else:
            match = _NOT_NORMAL  # before any route is matched: nothing of it is read or sent on
        await observe(
            getattr(self.state, "monitor", None),
            match,
            _with_body(match),
            scope,
            receive,
            send,
        )

    async def pages(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(scope, receive, send)


async def _refuse_path(scope: Scope, receive: Receive, send: Send) -> None:
    refusal = OAuthError("invalid_request", "the request path is not in normal form")
    await error_response(refusal, scope["path"])(scope, receive, send)


_NOT_NORMAL = RouteMatch(_refuse_path, streams_body=True)


def _with_body(match: RouteMatch) -> ASGIApp:
    if match.streams_body:
        return match.handler

    async def limited(scope: Scope, receive: Receive, send: Send) -> None:
        body = await read_body_or_refuse(scope, receive, send)
        if body is not None:
            await match.handler(scope, replay(body, receive), send)

    return limited


# The hot-path endpoints, answered without the router: path, handler, service context.
_JSON_ENDPOINTS = (
    ("/oauth2/token", token.token, "oauth2.token"),  # monitoring splits it by grant_type
    ("/oauth2/introspect", introspect.introspect, "oauth2.introspect"),
    ("/oauth2/revoke", revoke.revoke, "oauth2.revoke"),
)
# Pages of the router that are a service context of their own.
_PAGE_SERVICES = {"/oauth2/authorize": "oauth2.authorize"}


def route_table(app: AuthgateApp, routes: Sequence[GatewayRoute]) -> RouteTable:
    """authgate's own paths (the JSON endpoints, then every path of the router), then the
    gateway `routes`: routing.RouteTable decides between them."""
    own = [  # each reads its body itself, under the same limit (fast_lane.py)
        OwnPath(path, RouteMatch(json_endpoint(handler), service, streams_body=True))
        for path, handler, service in _JSON_ENDPOINTS
    ]
    own += [  # a JSON API reads its body itself, under the same limit (json_api.py)
        OwnPath(api.prefix, RouteMatch(api, api.face, streams_body=True), prefix=True)
        for api in app.json_apis
    ]
    pages = RouteMatch(app.pages)
    for route in app.routes:
        path: str = getattr(route, "path", "")
        if isinstance(route, Mount) or "{" in path:  # a folder, or a path with a parameter
            own.append(OwnPath(path.split("{", 1)[0].rstrip("/"), pages, prefix=True))
        else:
            own.append(OwnPath(path, RouteMatch(app.pages, _PAGE_SERVICES.get(path))))
    gateway = [
        GatewayPath(
            route.path,
            RouteMatch(RouteProxy(route), route.service_name, route.composite, streams_body=True),
        )
        for route in routes
    ]
    return RouteTable(own, gateway, fallback=pages)


def _use_routes(app: Starlette, routes: Sequence[GatewayRoute]) -> None:
    """Swap in a route table with these gateway routes: one assignment, so a request is
    matched against the old table or the new one, never a mix."""
    assert isinstance(app, AuthgateApp)  # noqa: S101 - create_app makes nothing else
    app.route_table = route_table(app, routes)
    app.state.monitor.routes = tuple(routes)


def create_app(
    settings: Settings, *, demo: bool = False, metrics_directory: Path | None = None
) -> Starlette:
    """The application; `metrics_directory` is where the workers of one `serve --workers N`
    share their counts (monitoring/shared_counts.py)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        services = await Services.open(settings)
        app.state.services = services
        app.state.flows = build_flows(services)
        app.state.authorization_request = build_authorization_request(services)
        monitor = app.state.monitor = Monitor(settings, services.events, metrics_directory)
        if monitor.shared is not None:
            monitor.shared.start()
        if settings.monitoring.enabled:
            monitor.traffic = TrafficLog(
                services.registry.engine,
                settings.monitoring,
                monitor,
                sqlite=services.registry.sqlite,
            )
            monitor.traffic.start()
        app.state.gateway = Gateway(settings.gateway, services)
        if demo:
            app.state.demo = await playground.seed(services)
            await portal_demo.seed(services, playground.USERNAME, playground.SCOPES)
        with contextlib.suppress(StoreUnavailable):  # else made by the first login page
            await services.registry.secrets.get(login_csrf.SECRET_NAME)
        purge = asyncio.create_task(_purge_forever(services))
        # The routes kept in the registry join those of the file before the first request,
        # then follow every change (route_updates.py).
        routes = RouteUpdates(services, lambda found: _use_routes(app, found))
        await routes.load()
        following = asyncio.create_task(routes.follow())
        trust = None
        if settings.server.tls and settings.server.tls_client_ca:
            trust = asyncio.create_task(trust_registered_forever(services.registry))
        # What start-up built lives as long as the process: moved out of the collector's sight,
        # a full collection walks only what requests create, not every module, class and table
        # object. Without this each full pass took about 40 ms, the p99 of every endpoint.
        gc.collect()
        gc.freeze()
        # The young generation is walked after 7,000 new objects, not Python's 700: under load
        # it holds the objects of every request in flight, and at 700 each was walked again
        # every few requests (bench/ab.py: the refresh grant -7 % CPU per request; the worker
        # with 1,000,000 tokens peaks 2 MB higher, 78.4 MB; 25,000 went past 80 MB).
        gc.set_threshold(7000, 10, 10)
        try:
            yield
        finally:
            background = [task for task in (following, purge, trust) if task is not None]
            for task in background:
                task.cancel()
            # Awaited before the stores close: a task cancelled in the middle of a query
            # returns its connection here, not from a thread after the loop is gone.
            await asyncio.gather(*background, return_exceptions=True)
            await app.state.gateway.close()
            if monitor.traffic is not None:
                await monitor.traffic.close()
            if monitor.shared is not None:
                await monitor.shared.close()
            await services.close()

    routes: list[BaseRoute] = [
        Route("/.well-known/oauth-authorization-server", metadata.server_metadata),
        Route("/.well-known/openid-configuration", discovery.openid_configuration),
        Route("/oauth2/jwks", discovery.jwks),
        Route("/oauth2/userinfo", userinfo.userinfo, methods=["GET", "POST"]),
        Route("/oauth2/logout", logout.logout, methods=["GET", "POST"]),
        Route("/oauth2/authorize", authorize.authorize, methods=["GET", "POST"]),
        Route("/logout", page_logout.logout, methods=["POST"]),
        Route("/healthz", metadata.healthz),
        Route("/readyz", metadata.readyz),
        Route("/metrics", metrics_endpoint),
        *manager_routes(),
        *portal_routes(enabled=settings.portal.enabled),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    if demo:
        routes += playground.routes()
    app = AuthgateApp(
        routes=routes,
        exception_handlers={
            OAuthError: _on_error,
            StoreUnavailable: _on_error,
            Exception: _on_error,
        },
        lifespan=lifespan,
    )
    if not settings.portal.enabled:
        app.json_apis = tuple(api for api in JSON_APIS if api.face != "portal")
    app.route_table = route_table(app, settings.gateway.routes)
    app.entry = behind_proxies(settings.server, app.route)
    return app
