"""The ASGI side of monitoring: each request to a service context runs as a Transaction."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from authgate.config import GRANT_TYPES
from authgate.monitoring.metrics import Monitor
from authgate.monitoring.transactions import ANONYMOUS, Transaction, _current


def _grant_service(form: Any) -> str:
    """The token endpoint counts per grant, read from the form the endpoint already parsed."""
    grant_type = form.get("grant_type") if form is not None else None
    return f"oauth2.token.{grant_type}" if grant_type in GRANT_TYPES else "oauth2.token"


class MonitorMiddleware:
    """Wraps every request to a service context in a Transaction (pure ASGI: it streams)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        monitor: Monitor | None = getattr(scope["app"].state, "monitor", None) \
            if scope["type"] == "http" and "app" in scope else None
        if monitor is None:
            await self.app(scope, receive, send)
            return
        await observe(monitor, self.app, scope, receive, send)


async def observe(monitor: Monitor, app: ASGIApp, scope: Scope, receive: Receive,
                  send: Send) -> None:
    """Run `app` for one request, counted in its service context (if it has one)."""
    context = monitor.service_for(scope["path"]) if monitor.enabled else None
    if context is None:
        await app(scope, receive, send)
        return
    service, composite = context
    transaction = Transaction(
        service, composite, scope["method"], scope["path"][:2000],
        record_outbound=monitor.settings.record_outbound,
    )
    async def watched_send(message: Message) -> None:
        if message["type"] == "http.response.start":
            transaction.status = message["status"]
        await send(message)

    state = scope.setdefault("state", {})
    token = _current.set(transaction)
    monitor.in_flight += 1
    monitor.idle.clear()
    try:
        await app(scope, receive, watched_send)
    finally:
        _current.reset(token)
        transaction.duration = time.perf_counter() - transaction.started
        attributes = state.get("attributes") or {}
        transaction.client = str(attributes.get(monitor.settings.client_attribute)
                                 or ANONYMOUS)
        if service == "oauth2.token":
            transaction.service = _grant_service(state.get("form"))
        monitor.in_flight -= 1
        if not monitor.in_flight:
            monitor.idle.set()
        monitor.finish(transaction)


async def metrics_endpoint(request: Request) -> Response:
    """GET /metrics in the Prometheus text format."""
    monitor: Monitor = request.app.state.monitor
    return Response(monitor.metrics(), media_type=CONTENT_TYPE_LATEST)
