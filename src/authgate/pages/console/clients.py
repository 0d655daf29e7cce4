"""The manager's client pages: list, register, edit, rotate the secret, delete.

A new secret (at registration or rotation) appears once, in the answer to that post and
nowhere else: it is never put in a URL, a session or a log, so the answer is a page rather
than a redirect, and it is never cached (PAGE_HEADERS).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from authgate.config import GRANT_TYPES
from authgate.operations import NotFound, OperationError, parse
from authgate.operations.clients import (
    ClientChanges,
    ClientCreate,
    ClientView,
    SecretRotation,
    create_client,
    delete_client,
    get_client,
    list_clients,
    rotate_secret,
    update_client,
)
from authgate.pages.console.base import (
    NO_ERROR,
    FormError,
    PostedForm,
    action_route,
    back_to,
    caller_of,
    confirmation,
    format_time,
    message,
    notice_of,
    page,
    services_of,
    view_route,
)
from authgate.pages.sessions import BrowserSession

SECTION = "clients"
# What the registration form starts with: the defaults of `authgate client create`.
_NEW_CLIENT: dict[str, Any] = {
    "name": "",
    "redirect_uris": [],
    "scopes": [],
    "grant_types": ["authorization_code", "refresh_token"],
    "public": False,
    "introspect": False,
}


def _fields(form: PostedForm, *, creating: bool) -> dict[str, Any]:
    """The client form as the operations' request members."""
    fields: dict[str, Any] = {
        "name": form.text("name"),
        "redirect_uris": form.lines("redirect_uris"),
        "scopes": form.words("scopes"),
        "grant_types": form.all("grant_types"),
        "introspect": form.is_checked("introspect"),
    }
    if creating:
        fields["public"] = form.is_checked("public")
    return fields


def _missing(admin: BrowserSession, client_id: str) -> Response:
    return message(
        admin,
        404,
        "Client not found",
        f"No client has the ID {client_id}.",
        back="/manager/clients",
        section=SECTION,
    )


async def clients_list(request: Request, admin: BrowserSession) -> Response:
    clients = await list_clients(services_of(request))
    return page(
        "console/clients.html", admin, clients=clients, notice=notice_of(request), section=SECTION
    )


def _new_form(admin: BrowserSession, values: dict[str, Any], error: FormError) -> Response:
    return page(
        "console/client_new.html",
        admin,
        error.status,
        values=values,
        error=error,
        grant_types=GRANT_TYPES,
        section=SECTION,
    )


async def new_client_form(request: Request, admin: BrowserSession) -> Response:
    return _new_form(admin, _NEW_CLIENT, NO_ERROR)


async def register(request: Request, admin: BrowserSession, form: PostedForm) -> Response:
    values = _fields(form, creating=True)
    try:
        created = await create_client(
            services_of(request), caller_of(admin), parse(ClientCreate, values)
        )
    except OperationError as exc:
        return _new_form(admin, values, FormError.of(exc, conflict_field="name"))
    return _secret_page(admin, "Client registered", created, created.client_secret, status=201)


def _secret_page(
    admin: BrowserSession, title: str, client: ClientView, secret: str | None, status: int = 200
) -> Response:
    return page(
        "console/client_secret.html",
        admin,
        status,
        title=title,
        name=client.name,
        client_id=client.client_id,
        client_secret=secret,
        section=SECTION,
    )


def _client_page(
    admin: BrowserSession,
    client: ClientView,
    *,
    values: dict[str, Any] | None = None,
    error: FormError = NO_ERROR,
    rotate_error: FormError = NO_ERROR,
    grace: str = "0",
    notice: str = "",
) -> Response:
    return page(
        "console/client.html",
        admin,
        max(error.status, rotate_error.status),
        client=client,
        values=values or client.model_dump(),
        error=error,
        rotate_error=rotate_error,
        grace=grace,
        grant_types=GRANT_TYPES,
        notice=notice,
        format_time=format_time,
        section=SECTION,
    )


async def client_detail(request: Request, admin: BrowserSession) -> Response:
    client_id = request.path_params["client_id"]
    try:
        client = await get_client(services_of(request), client_id)
    except NotFound:
        return _missing(admin, client_id)
    return _client_page(admin, client, notice=notice_of(request))


async def edit(request: Request, admin: BrowserSession, form: PostedForm) -> Response:
    client_id = request.path_params["client_id"]
    services = services_of(request)
    values = _fields(form, creating=False)
    try:
        await update_client(services, caller_of(admin), client_id, parse(ClientChanges, values))
    except NotFound:
        return _missing(admin, client_id)
    except OperationError as exc:
        client = await get_client(services, client_id)
        values |= {"public": client.public}
        return _client_page(admin, client, values=values, error=FormError.of(exc))
    return back_to(f"/manager/clients/{client_id}", "client-saved")


async def rotate(request: Request, admin: BrowserSession, form: PostedForm) -> Response:
    client_id = request.path_params["client_id"]
    services = services_of(request)
    grace = form.text("grace")
    try:
        client = await get_client(services, client_id)
    except NotFound:
        return _missing(admin, client_id)
    try:
        rotation = parse(SecretRotation, {"grace": grace} if grace else {})
        rotated = await rotate_secret(services, caller_of(admin), client_id, rotation)
    except NotFound:
        return _missing(admin, client_id)
    except OperationError as exc:
        return _client_page(admin, client, rotate_error=FormError.of(exc), grace=grace)
    return _secret_page(admin, "New client secret", client, rotated.client_secret)


async def confirm_delete(request: Request, admin: BrowserSession) -> Response:
    client_id = request.path_params["client_id"]
    try:
        client = await get_client(services_of(request), client_id)
    except NotFound:
        return _missing(admin, client_id)
    return confirmation(
        admin,
        title=f"Delete the client {client.name}?",
        text=f"The client {client.client_id} is removed with its consents, and every token "
        "issued to it is revoked. This cannot be undone.",
        action=f"/manager/clients/{client_id}/delete",
        button="Delete the client",
        cancel=f"/manager/clients/{client_id}",
        section=SECTION,
    )


async def delete(request: Request, admin: BrowserSession, form: PostedForm) -> Response:
    client_id = request.path_params["client_id"]
    try:
        await delete_client(services_of(request), caller_of(admin), client_id)
    except NotFound:
        return _missing(admin, client_id)
    return back_to("/manager/clients", "client-deleted")


def client_pages() -> list[BaseRoute]:
    return [
        view_route("/manager/clients", clients_list),
        view_route("/manager/clients/new", new_client_form),
        action_route("/manager/clients/new", register),
        view_route("/manager/clients/{client_id}", client_detail),
        action_route("/manager/clients/{client_id}", edit),
        action_route("/manager/clients/{client_id}/secret", rotate),
        view_route("/manager/clients/{client_id}/delete", confirm_delete),
        action_route("/manager/clients/{client_id}/delete", delete),
    ]
