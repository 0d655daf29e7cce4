"""The web manager at /manager: live service usage, the traffic log, a transaction's detail.

Administrators (`authgate admin create`) log in with a form; the session is a random cookie
whose digest is kept in `manager_sessions`, so every worker process sees it. The login form
carries a CSRF token bound to the pre-login session, a foreign `Origin` is refused, and the
session id changes at login. Pages cannot be framed, send no referrer and run no inline
script: the dashboard polls `/manager/api/usage` from a same-origin JS file.
"""

from __future__ import annotations

import hmac
import time
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy import delete, insert, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from authgate.db.schema import manager_sessions
from authgate.monitoring.metrics import Monitor
from authgate.monitoring.traffic import TrafficFilter, TrafficLog
from authgate.pages.origin import is_same_origin
from authgate.pages.views import STATIC_DIR, page_json, redirect, render
from authgate.registry import Registry
from authgate.services import Services
from authgate.tokens import digest, generate_token

COOKIE = "authgate_manager"
SESSION_TTL = 8 * 3600  # seconds an administrator stays logged in


class ManagerSessions:
    """Administrator sessions in the registry database, keyed by the cookie's digest."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    async def create(self, username: str | None) -> tuple[str, str]:
        """A new session: (cookie value, CSRF token)."""
        cookie, csrf = generate_token(43), generate_token(43)
        async with self.registry.transaction() as conn:
            await conn.execute(
                delete(manager_sessions).where(manager_sessions.c.expires_at < time.time())
            )
            await conn.execute(
                insert(manager_sessions).values(
                    session_key=digest(cookie),
                    username=username,
                    csrf_token=csrf,
                    expires_at=int(time.time()) + SESSION_TTL,
                )
            )
        return cookie, csrf

    async def load(self, cookie: str | None) -> tuple[str | None, str] | None:
        """(username or None before login, CSRF token) of a live session."""
        if not cookie or len(cookie) > 100:
            return None
        async with self.registry.transaction() as conn:
            row = (
                await conn.execute(
                    select(manager_sessions).where(
                        manager_sessions.c.session_key == digest(cookie)
                    )
                )
            ).first()
        if row is None or row.expires_at < time.time():
            return None
        return row.username, row.csrf_token

    async def end(self, cookie: str) -> None:
        async with self.registry.transaction() as conn:
            await conn.execute(
                delete(manager_sessions).where(manager_sessions.c.session_key == digest(cookie))
            )


def _sessions(request: Request) -> ManagerSessions:
    services: Services = request.app.state.services
    return ManagerSessions(services.registry)


def _set_cookie(request: Request, response: Response, value: str) -> None:
    services: Services = request.app.state.services
    response.set_cookie(
        COOKIE, value, max_age=SESSION_TTL, path="/manager", httponly=True, samesite="lax",
        secure=services.issuer.startswith("https://"),
    )


def _posted_from_our_pages(request: Request) -> bool:
    services: Services = request.app.state.services
    return is_same_origin(request, services.issuer)


async def _admin(request: Request) -> tuple[str, str] | None:
    """(administrator, CSRF token) of a logged-in session."""
    session = await _sessions(request).load(request.cookies.get(COOKIE))
    if session is None or session[0] is None:
        return None
    return session[0], session[1]


def _login_page(csrf_token: str, error: str = "", status: int = 200) -> Response:
    return render("manager/login.html", status, csrf_token=csrf_token, error=error, admin=None,
                  section="login")


def _to_login() -> Response:
    return redirect("/manager/login", 303)


async def login_page(request: Request) -> Response:
    sessions = _sessions(request)
    session = await sessions.load(request.cookies.get(COOKIE))
    if session is not None and session[0] is not None:
        return redirect("/manager", 303)
    if session is not None:  # reuse the pre-login session: reloading adds no rows
        return _login_page(session[1])
    cookie, csrf = await sessions.create(None)
    response = _login_page(csrf)
    _set_cookie(request, response, cookie)
    return response


async def login(request: Request) -> Response:
    sessions = _sessions(request)
    cookie = request.cookies.get(COOKIE, "")
    session = await sessions.load(cookie)
    form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
    sent = form.get("csrf_token", "")
    if (
        session is None
        or not _posted_from_our_pages(request)
        or not hmac.compare_digest(sent.encode(), session[1].encode())
    ):
        return _login_page("", "The form expired. Reload the page.", 403)
    services: Services = request.app.state.services
    username, password = form.get("username", ""), form.get("password", "")
    if not (username and password and await services.registry.check_admin(username, password)):
        return _login_page(session[1], "Wrong administrator name or password.", 401)
    await sessions.end(cookie)  # the session id changes at login
    new_cookie, _ = await sessions.create(username)
    response = redirect("/manager", 303)
    _set_cookie(request, response, new_cookie)
    return response


async def logout(request: Request) -> Response:
    admin = await _admin(request)
    form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
    if admin is not None and _posted_from_our_pages(request) and hmac.compare_digest(
        form.get("csrf_token", "").encode(), admin[1].encode()
    ):
        await _sessions(request).end(request.cookies.get(COOKIE, ""))
    response = _to_login()
    response.delete_cookie(COOKIE, path="/manager")
    return response


def _monitor(request: Request) -> Monitor:
    monitor: Monitor = request.app.state.monitor
    return monitor


async def dashboard(request: Request) -> Response:
    admin = await _admin(request)
    if admin is None:
        return _to_login()
    monitor = _monitor(request)
    return render("manager/dashboard.html", admin=admin[0], csrf_token=admin[1],
                  enabled=monitor.enabled, section="dashboard")


async def usage(request: Request) -> Response:
    if await _admin(request) is None:
        return page_json({"error": "login required"}, 401)
    monitor = _monitor(request)
    body = monitor.window.snapshot(time.time()) | {"enabled": monitor.enabled}
    composites = {route.composite for route in monitor.routes if route.composite}
    for service in body["services"]:
        service["composite"] = service["service"] in composites  # not added to the totals
    traffic: TrafficLog | None = monitor.traffic
    body["traffic_dropped"] = traffic.dropped if traffic else 0
    return page_json(body)


async def traffic_log(request: Request) -> Response:
    admin = await _admin(request)
    if admin is None:
        return _to_login()
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
    return render("manager/traffic.html", admin=admin[0], csrf_token=admin[1], rows=rows,
                  query=query, services=services, clients=clients, enabled=traffic is not None,
                  section="traffic", format_time=_format_time)


async def transaction(request: Request) -> Response:
    admin = await _admin(request)
    if admin is None:
        return _to_login()
    traffic: TrafficLog | None = _monitor(request).traffic
    tx_id = request.path_params["tx_id"]
    found = await traffic.detail(tx_id) if traffic is not None and len(tx_id) <= 32 else None
    if found is None:
        return render("manager/transaction.html", 404, admin=admin[0], csrf_token=admin[1],
                      tx=None, section="traffic", format_time=_format_time, scale=1.0)
    total = max([found["duration_ms"]] + [c["offset_ms"] + c["duration_ms"]
                                          for c in found["outbound"]])
    return render("manager/transaction.html", admin=admin[0], csrf_token=admin[1], tx=found,
                  section="traffic", format_time=_format_time, scale=600 / max(total, 0.001))


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
        Mount("/manager/static", StaticFiles(directory=STATIC_DIR / "manager"),
              name="manager-static"),
    ]
