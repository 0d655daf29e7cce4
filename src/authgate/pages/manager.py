"""The web manager at /manager: live service usage, the traffic log, a transaction's detail;
the administration pages are its console (pages/console/).

Administrators (`authgate admin create`) log in with a form; their sessions are the `admin` realm
of the pages' session store (pages/sessions.py), so every worker process sees them. The login form
carries a signed CSRF token bound to a pre-login cookie (so showing it stores nothing), a post from
another origin is refused, the session id changes at login, and failed logins lock a name out as
users' do. Pages cannot be framed, send no referrer and run no inline script: the dashboard polls
`/manager/api/usage` from a same-origin JS file.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from authgate.monitoring.metrics import Monitor
from authgate.monitoring.traffic import TrafficFilter, TrafficLog
from authgate.pages.console import console_pages
from authgate.pages.console.base import (
    PostedForm,
    admin_of,
    page,
    services_of,
    sessions_of,
    to_login,
)
from authgate.pages.login_csrf import LoginCsrf
from authgate.pages.origin import is_same_origin
from authgate.pages.sessions import ADMIN, LOGIN_TTL
from authgate.pages.views import STATIC_DIR, page_json, redirect, render
from authgate.services import Services
from authgate.usernames import canonical_or_none


def _login_page(csrf_token: str, error: str = "", status: int = 200) -> Response:
    return render(
        "manager/login.html",
        status,
        csrf_token=csrf_token,
        error=error,
        admin=None,
        section="login",
    )


def _login_csrf(request: Request) -> LoginCsrf:
    services = services_of(request)
    return LoginCsrf(services.registry, ADMIN, secure=services.issuer.startswith("https://"))


async def login_page(request: Request) -> Response:
    """The login form; it stores nothing (its CSRF token is signed, pages/login_csrf.py)."""
    if await admin_of(request) is not None:
        return redirect("/manager", 303)
    csrf = _login_csrf(request)
    token, value = await csrf.issue(request)
    return csrf.set_cookie(_login_page(token), value)


async def login(request: Request) -> Response:
    csrf = _login_csrf(request)
    form = PostedForm(await request.body())
    if not is_same_origin(request, services_of(request).issuer) or not await csrf.is_valid(
        request, form.get("csrf_token")
    ):
        return _login_page("", "The form expired. Reload the page.", 403)
    username = await _check_admin(services_of(request), form)
    if username is None:
        token, _ = await csrf.issue(request)  # the browser keeps its cookie
        return _login_page(token, "Wrong administrator name or password.", 401)
    sessions = sessions_of(request)
    old = await sessions.from_request(request)
    if old is not None:
        await sessions.delete(old)
    session = await sessions.create(username=username, ttl=LOGIN_TTL)  # a new id at login
    return csrf.clear_cookie(sessions.set_cookie(redirect("/manager", 303), session))


async def _check_admin(services: Services, form: PostedForm) -> str | None:
    """The canonical name of the administrator the form's password is right for, or None.

    The same lockout rules as users', counted apart: a locked name gets no password check
    (and costs no argon2 hash), and looks like a wrong password.
    """
    name, password = canonical_or_none(form.get("username")), form.get("password")
    if name is None or not password:
        return None

    async def verify() -> str | None:
        return name if await services.registry.check_admin(name, password) else None

    return await services.admin_lockout.check(name, verify)


async def logout(request: Request) -> Response:
    sessions = sessions_of(request)
    admin = await admin_of(request)
    form = PostedForm(await request.body())
    if (
        admin is not None
        and is_same_origin(request, services_of(request).issuer)
        and admin.is_own_csrf_token(form.get("csrf_token"))
    ):
        await sessions.delete(admin)
    return sessions.clear_cookie(to_login())


def _monitor(request: Request) -> Monitor:
    monitor: Monitor = request.app.state.monitor
    return monitor


async def dashboard(request: Request) -> Response:
    admin = await admin_of(request)
    if admin is None:
        return to_login()
    monitor = _monitor(request)
    return page("dashboard.html", admin, enabled=monitor.enabled, section="dashboard")


async def usage(request: Request) -> Response:
    if await admin_of(request) is None:
        return page_json({"error": "login required"}, 401)
    monitor = _monitor(request)
    body = monitor.snapshot(time.time()) | {"enabled": monitor.enabled}
    composites = {route.composite for route in monitor.routes if route.composite}
    for service in body["services"]:
        service["composite"] = service["service"] in composites  # not added to the totals
    traffic: TrafficLog | None = monitor.traffic
    body["traffic_dropped"] = traffic.dropped if traffic else 0
    return page_json(body)


async def traffic_log(request: Request) -> Response:
    admin = await admin_of(request)
    if admin is None:
        return to_login()
    params = request.query_params
    query = TrafficFilter(
        service=params.get("service", "")[:200],
        client=params.get("client", "")[:255],
        status=params.get("status", "")[:8],
        limit=200,
    )
    traffic: TrafficLog | None = _monitor(request).traffic
    rows: list[dict[str, Any]] = []
    services: list[str] = []
    clients: list[str] = []
    if traffic is not None:
        rows = await traffic.search(query)
        services, clients = await traffic.services_and_clients()
    return page(
        "traffic.html",
        admin,
        rows=rows,
        query=query,
        services=services,
        clients=clients,
        enabled=traffic is not None,
        section="traffic",
        format_time=_format_time,
    )


async def transaction(request: Request) -> Response:
    admin = await admin_of(request)
    if admin is None:
        return to_login()
    traffic: TrafficLog | None = _monitor(request).traffic
    tx_id = request.path_params["tx_id"]
    found = await traffic.detail(tx_id) if traffic is not None and len(tx_id) <= 32 else None
    if found is None:
        return page(
            "transaction.html",
            admin,
            404,
            tx=None,
            section="traffic",
            format_time=_format_time,
            scale=1.0,
        )
    total = max(
        [found["duration_ms"]] + [c["offset_ms"] + c["duration_ms"] for c in found["outbound"]]
    )
    return page(
        "transaction.html",
        admin,
        tx=found,
        section="traffic",
        format_time=_format_time,
        scale=600 / max(total, 0.001),
    )


def _format_time(started_ms: int) -> str:
    seconds, millis = divmod(started_ms, 1000)
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds)) + f".{millis:03d}"


def manager_routes() -> list[BaseRoute]:
    return [
        Route("/manager", dashboard),
        Route("/manager/login", login_page, methods=["GET"]),
        Route("/manager/login", login, methods=["POST"]),
        Route("/manager/logout", logout, methods=["POST"]),
        Route("/manager/api/usage", usage),
        Route("/manager/traffic", traffic_log),
        Route("/manager/traffic/{tx_id}", transaction),
        *console_pages(),
        Mount(
            "/manager/static", StaticFiles(directory=STATIC_DIR / "manager"), name="manager-static"
        ),
    ]
