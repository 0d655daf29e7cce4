"""The ASGI side of monitoring: a request to a service context runs as a Transaction, and
`/metrics` publishes the counts."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from authgate.config import GRANT_TYPES
from authgate.monitoring.access import check_metrics_access
from authgate.monitoring.metrics import Monitor
from authgate.monitoring.transactions import ANONYMOUS, Transaction, running
from authgate.routing import RouteMatch


def _grant_service(form: Any) -> str:
    """The token endpoint counts per grant, read from the form the endpoint already parsed."""
    grant_type = form.get("grant_type") if form is not None else None
    return f"oauth2.token.{grant_type}" if grant_type in GRANT_TYPES else "oauth2.token"


async def observe(
    monitor: Monitor | None,
    match: RouteMatch,
    app: ASGIApp,
    scope: Scope,
    receive: Receive,
    send: Send,
) -> None:
    """Run `app` for one request, counted in the service context of its route (if any)."""
    if monitor is None or match.service is None or not monitor.enabled:
        await app(scope, receive, send)
        return
    service = match.service
    transaction = Transaction(
        service,
        match.composite,
        scope["method"],
        scope["path"][:2000],
        record_outbound=monitor.settings.record_outbound,
    )

    async def watched_send(message: Message) -> None:
        if message["type"] == "http.response.start":
            transaction.status = message["status"]
        await send(message)

    state = scope.setdefault("state", {})
    monitor.in_flight += 1
    monitor.idle.clear()
    try:
        with running(transaction):
            await app(scope, receive, watched_send)
    finally:
        transaction.duration = time.perf_counter() - transaction.started
        attributes = state.get("attributes") or {}
        transaction.client = str(attributes.get(monitor.settings.client_attribute) or ANONYMOUS)
        if service == "oauth2.token":
            transaction.service = _grant_service(state.get("form"))
        monitor.in_flight -= 1
        if not monitor.in_flight:
            monitor.idle.set()
        monitor.finish(transaction)


async def metrics_endpoint(request: Request) -> Response:
    """GET /metrics in the Prometheus text format, for the peers monitoring.access lets in."""
    check_metrics_access(request, request.app.state.services.settings.monitoring.metrics_token)
    monitor: Monitor = request.app.state.monitor
    body = monitor.metrics()
    from authgate.monitoring.prometheus import CONTENT_TYPE  # loaded by metrics() already

    return Response(body, media_type=CONTENT_TYPE)
