"""The manager's user pages: list, create, set a password, unlock, delete, and consents.

A username may hold any character (`/` included), so it travels in the query string or a
form field rather than in the path.
"""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from authgate.operations import NotFound, OperationError, parse
from authgate.operations.clients import list_clients
from authgate.operations.consents import list_consents, withdraw_consent
from authgate.operations.users import (
    UserChanges,
    UserCreate,
    create_user,
    delete_user,
    get_user,
    list_users,
    unlock_user,
    update_user,
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

SECTION = "users"


def user_url(username: str, action: str = "") -> str:
    return f"/manager/users/{action or 'show'}?{urlencode({'username': username})}"


def _missing(admin: BrowserSession, username: str) -> Response:
    return message(
        admin,
        404,
        "User not found",
        f"The Local User Store has no user {username}.",
        back="/manager/users",
        section=SECTION,
    )


async def _users_page(
    request: Request, admin: BrowserSession, *, username: str = "", error: FormError = NO_ERROR
) -> Response:
    return page(
        "console/users.html",
        admin,
        error.status,
        users=await list_users(services_of(request)),
        username=username,
        error=error,
        notice=notice_of(request) if error is NO_ERROR else "",
        user_url=user_url,
        format_time=format_time,
        section=SECTION,
    )


async def users_list(request: Request, admin: BrowserSession) -> Response:
    return await _users_page(request, admin)


async def create(request: Request, admin: BrowserSession, form: PostedForm) -> Response:
    username = form.text("username")
    fields = {"username": username, "password": form.get("password")}
    try:
        created = await create_user(
            services_of(request), caller_of(admin), parse(UserCreate, fields)
        )
    except OperationError as exc:
        error = FormError.of(exc, conflict_field="username")
        return await _users_page(request, admin, username=username, error=error)
    return redirect_to_user(created.username, "user-created")


def redirect_to_user(username: str, notice: str) -> Response:
    return back_to("/manager/users/show", notice, username=username)


async def _user_page(
    request: Request, admin: BrowserSession, username: str, error: FormError = NO_ERROR
) -> Response:
    services = services_of(request)
    try:
        user = await get_user(services, username)
        consents = await list_consents(services, user.username)
    except NotFound:
        return _missing(admin, username)
    names = {client.client_id: client.name for client in await list_clients(services)}
    return page(
        "console/user.html",
        admin,
        error.status,
        user=user,
        consents=consents,
        client_names=names,
        error=error,
        notice=notice_of(request) if error is NO_ERROR else "",
        user_url=user_url,
        format_time=format_time,
        section=SECTION,
    )


async def user_detail(request: Request, admin: BrowserSession) -> Response:
    return await _user_page(request, admin, request.query_params.get("username", ""))


async def set_password(request: Request, admin: BrowserSession, form: PostedForm) -> Response:
    username = form.get("username")
    try:
        changes = parse(UserChanges, {"password": form.get("password")})
        await update_user(services_of(request), caller_of(admin), username, changes)
    except NotFound:
        return _missing(admin, username)
    except OperationError as exc:
        return await _user_page(request, admin, username, FormError.of(exc))
    return redirect_to_user(username, "password-set")


async def unlock(request: Request, admin: BrowserSession, form: PostedForm) -> Response:
    username = form.get("username")
    lifted = await unlock_user(services_of(request), caller_of(admin), username)
    return redirect_to_user(username, "unlocked" if lifted else "not-locked")


async def withdraw(request: Request, admin: BrowserSession, form: PostedForm) -> Response:
    username, client_id = form.get("username"), form.get("client_id")
    try:
        await withdraw_consent(services_of(request), caller_of(admin), username, client_id)
    except NotFound as exc:
        return message(
            admin, 404, "Consent not found", exc.message, back="/manager/users", section=SECTION
        )
    return redirect_to_user(username, "consent-withdrawn")


async def confirm_delete(request: Request, admin: BrowserSession) -> Response:
    username = request.query_params.get("username", "")
    try:
        user = await get_user(services_of(request), username)
    except NotFound:
        return _missing(admin, username)
    return confirmation(
        admin,
        title=f"Delete the user {user.username}?",
        text="The user is removed from the Local User Store, its consents are forgotten and "
        "every token issued for it is revoked. This cannot be undone.",
        action="/manager/users/delete",
        hidden={"username": user.username},
        button="Delete the user",
        cancel=user_url(user.username),
        section=SECTION,
    )


async def delete(request: Request, admin: BrowserSession, form: PostedForm) -> Response:
    username = form.get("username")
    try:
        await delete_user(services_of(request), caller_of(admin), username)
    except NotFound:
        return _missing(admin, username)
    return back_to("/manager/users", "user-deleted")


def user_pages() -> list[BaseRoute]:
    return [
        view_route("/manager/users", users_list),
        action_route("/manager/users", create),
        view_route("/manager/users/show", user_detail),
        action_route("/manager/users/password", set_password),
        action_route("/manager/users/unlock", unlock),
        view_route("/manager/users/delete", confirm_delete),
        action_route("/manager/users/delete", delete),
        action_route("/manager/users/consents/withdraw", withdraw),
    ]
