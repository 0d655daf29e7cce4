"""The manager's gateway route pages: list (configuration-file routes read-only), add, delete.

A service name may hold any character, so it travels in the query string or a form field.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from authgate.config import GatewayRoute
from authgate.operations import Conflict, NotFound, OperationError, parse
from authgate.operations.routes import add_route, delete_route, get_route, list_routes
from authgate.pages.console.base import (
    NO_ERROR,
    FormError,
    PostedForm,
    action_route,
    back_to,
    caller_of,
    confirmation,
    message,
    notice_of,
    page,
    services_of,
    view_route,
)
from authgate.pages.sessions import BrowserSession

SECTION = "routes"
_EMPTY_FORM = {
    "path": "",
    "upstream": "",
    "sandbox_upstream": "",
    "service": "",
    "scopes": "",
    "timeout": "30",
    "strip_prefix": False,
}


def delete_url(service: str) -> str:
    return f"/manager/routes/delete?{urlencode({'service': service})}"


async def _routes_page(
    request: Request,
    admin: BrowserSession,
    *,
    values: dict[str, Any] | None = None,
    error: FormError = NO_ERROR,
) -> Response:
    return page(
        "console/routes.html",
        admin,
        error.status,
        routes=await list_routes(services_of(request)),
        values=values or _EMPTY_FORM,
        error=error,
        notice=notice_of(request) if error is NO_ERROR else "",
        delete_url=delete_url,
        section=SECTION,
    )


async def routes_list(request: Request, admin: BrowserSession) -> Response:
    return await _routes_page(request, admin)


async def add(request: Request, admin: BrowserSession, form: PostedForm) -> Response:
    values: dict[str, Any] = {
        name: form.text(name)
        for name in ("path", "upstream", "sandbox_upstream", "service", "scopes", "timeout")
    }
    values["strip_prefix"] = form.is_checked("strip_prefix")
    route = values | {"scopes": form.words("scopes")}
    if not route["timeout"]:
        del route["timeout"]  # the default
    try:
        await add_route(services_of(request), caller_of(admin), parse(GatewayRoute, route))
    except OperationError as exc:
        error = FormError.of(exc, conflict_field="service")
        return await _routes_page(request, admin, values=values, error=error)
    return back_to("/manager/routes", "route-added")


def _refused(admin: BrowserSession, error: OperationError) -> Response:
    status = 409 if isinstance(error, Conflict) else 404
    title = "Read-only route" if status == 409 else "Route not found"
    return message(admin, status, title, error.message, back="/manager/routes", section=SECTION)


async def confirm_delete(request: Request, admin: BrowserSession) -> Response:
    service = request.query_params.get("service", "")
    try:
        route = await get_route(services_of(request), service)
    except NotFound as exc:
        return _refused(admin, exc)
    if route.source == "config":
        return _refused(admin, Conflict(f"route {service} is in the configuration file"))
    return confirmation(
        admin,
        title=f"Delete the route {service}?",
        text=f"Requests to {route.path} stop reaching {route.upstream} in every server process "
        "within 5 seconds.",
        action="/manager/routes/delete",
        hidden={"service": service},
        button="Delete the route",
        cancel="/manager/routes",
        section=SECTION,
    )


async def delete(request: Request, admin: BrowserSession, form: PostedForm) -> Response:
    try:
        await delete_route(services_of(request), caller_of(admin), form.get("service"))
    except OperationError as exc:
        return _refused(admin, exc)
    return back_to("/manager/routes", "route-deleted")


def route_pages() -> list[BaseRoute]:
    return [
        view_route("/manager/routes", routes_list),
        action_route("/manager/routes", add),
        view_route("/manager/routes/delete", confirm_delete),
        action_route("/manager/routes/delete", delete),
    ]
