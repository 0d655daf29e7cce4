"""What every manager page shares: the administrator's session, checked form posts, answers.

A page (GET) needs a logged-in administrator; an action (POST) needs one too, from our own
origin, with the session's CSRF token: otherwise it is refused with 403 and changes nothing.
An action answers with a redirect (post/redirect/get) and a fixed notice named in the query,
so nothing the caller typed is echoed back from a URL. The operations' errors become a form
error tied to its field (422 for a broken rule, 409 for a conflict) or a 404 page.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from authgate.forms import MAX_FIELDS
from authgate.operations import Caller, Conflict, Invalid, NotFound, OperationError
from authgate.pages.origin import is_same_origin
from authgate.pages.sessions import ADMIN, BrowserSession, SessionStore
from authgate.pages.views import redirect, render
from authgate.services import Services

Page = Callable[[Request], Awaitable[Response]]

# The notices an action may ask its next page to show: fixed text, chosen by key.
NOTICES = {
    "client-saved": "The client was saved.",
    "client-deleted": "The client was deleted and its tokens revoked.",
    "user-created": "The user was created.",
    "user-deleted": "The user was deleted, with its tokens and consents.",
    "password-set": "The password was changed.",
    "unlocked": "The lock was lifted.",
    "not-locked": "The name was not locked.",
    "consent-withdrawn": "The consent was withdrawn and the client's tokens for this user revoked.",
    "route-added": "The route was added. Every server process applies it within 5 seconds.",
    "route-deleted": "The route was deleted.",
}


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def sessions_of(request: Request) -> SessionStore:
    return SessionStore.of(services_of(request), ADMIN)


async def admin_of(request: Request) -> BrowserSession | None:
    """The session of a logged-in administrator."""
    session = await sessions_of(request).from_request(request)
    if session is None or session.username is None:
        return None
    return session


def caller_of(admin: BrowserSession) -> Caller:
    return Caller("manager", admin.username or "")


def format_time(seconds: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


def to_login() -> Response:
    return redirect("/manager/login", 303)


def page(template: str, admin: BrowserSession, status: int = 200, **context: Any) -> Response:
    """A page for a logged-in administrator: the header names them and offers log out."""
    return render(
        f"manager/{template}", status, admin=admin.username, csrf_token=admin.csrf_token, **context
    )


def message(
    admin: BrowserSession, status: int, title: str, text: str, *, back: str, section: str
) -> Response:
    return page("message.html", admin, status, title=title, text=text, back=back, section=section)


def confirmation(
    admin: BrowserSession,
    *,
    title: str,
    text: str,
    action: str,
    button: str,
    cancel: str,
    section: str,
    hidden: dict[str, str] | None = None,
) -> Response:
    """The page that asks before a deletion: its form posts to `action`, `cancel` leads back.
    Nothing has the focus at first, so a stray Enter deletes nothing."""
    return page(
        "console/confirm.html",
        admin,
        title=title,
        text=text,
        action=action,
        hidden=hidden or {},
        button=button,
        cancel=cancel,
        section=section,
    )


def back_to(path: str, notice: str, **params: str) -> Response:
    """The redirect that answers a successful action (post/redirect/get)."""
    return redirect(f"{path}?{urlencode(params | {'done': notice})}", 303)


def notice_of(request: Request) -> str:
    return NOTICES.get(request.query_params.get("done", ""), "")


class PostedForm:
    """A form post's fields; a checkbox group or a repeated name keeps every value."""

    def __init__(self, body: bytes) -> None:
        text = body.decode("utf-8", "replace")
        try:
            pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS)
        except ValueError:  # too many fields: treated as an empty, hence refused, form
            pairs = []
        self._values: dict[str, list[str]] = {}
        for name, value in pairs:
            self._values.setdefault(name, []).append(value)

    def get(self, name: str) -> str:
        """The first value as sent (a password may start or end with a space)."""
        return self._values.get(name, [""])[0]

    def text(self, name: str) -> str:
        """The first value without the spaces around it: a name typed into a field."""
        return self.get(name).strip()

    def all(self, name: str) -> list[str]:
        return [value for value in self._values.get(name, []) if value]

    def is_checked(self, name: str) -> bool:
        return bool(self.all(name))

    def lines(self, name: str) -> list[str]:
        return [line.strip() for line in self.get(name).splitlines() if line.strip()]

    def words(self, name: str) -> list[str]:
        return self.get(name).split()


Action = Callable[[Request, BrowserSession, PostedForm], Awaitable[Response]]
View = Callable[[Request, BrowserSession], Awaitable[Response]]


def admin_page(view: View) -> Page:
    """A GET page: the login page first for anyone not logged in as an administrator."""

    async def endpoint(request: Request) -> Response:
        admin = await admin_of(request)
        if admin is None:
            return to_login()
        return await view(request, admin)

    return endpoint


def admin_action(action: Action) -> Page:
    """A POST: refused (403, nothing changed) without a login, from another origin, or
    without this session's CSRF token."""

    async def endpoint(request: Request) -> Response:
        admin = await admin_of(request)
        form = PostedForm(await request.body())
        if admin is None:
            return to_login()
        if not is_same_origin(request, services_of(request).issuer) or not admin.is_own_csrf_token(
            form.get("csrf_token")
        ):
            return message(
                admin,
                403,
                "The form expired",
                "Nothing was changed. Reload the page and try again.",
                back="/manager",
                section="",
            )
        return await action(request, admin, form)

    return endpoint


def view_route(path: str, view: View) -> Route:
    return Route(path, admin_page(view), methods=["GET"])


def action_route(path: str, action: Action) -> Route:
    return Route(path, admin_action(action), methods=["POST"])


@dataclass(frozen=True, slots=True)
class FormError:
    """What a form shows when an operation refuses it: the field at fault, if one is."""

    status: int
    message: str
    field: str = ""

    @classmethod
    def of(cls, error: OperationError, *, conflict_field: str = "") -> FormError:
        if isinstance(error, Invalid):
            # `redirect_uris.2` is the field `redirect_uris`, one input of the form; pydantic's
            # "Value error, " before a validator's own words says nothing to a reader.
            reason = error.reason.removeprefix("Value error, ")
            return cls(422, reason[:1].upper() + reason[1:], error.field.split(".", 1)[0])
        if isinstance(error, Conflict):
            return cls(409, error.message, conflict_field)
        return cls(404 if isinstance(error, NotFound) else 422, error.message)


NO_ERROR = FormError(200, "")
