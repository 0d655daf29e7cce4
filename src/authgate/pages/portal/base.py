"""What every developer portal page shares: the signed-in user, checked form posts, answers.

The portal signs people in to the same browser session as the login page of the
authorization endpoint (the `user` realm), against the same user repository and lockout, so
one sign-in serves both. A page (GET) needs a signed-in user; an action (POST) needs one too,
from our own origin, with the session's CSRF token: otherwise it is refused with 403 and
changes nothing. Actions answer with a redirect and a fixed notice named in the query.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from authgate.operations import Caller
from authgate.pages.console.base import PostedForm, services_of
from authgate.pages.origin import is_same_origin
from authgate.pages.sessions import USER, BrowserSession, SessionStore
from authgate.pages.views import error_page, redirect, render

Page = Callable[[Request], Awaitable[Response]]
View = Callable[[Request, BrowserSession], Awaitable[Response]]
Action = Callable[[Request, BrowserSession, PostedForm], Awaitable[Response]]

# The notices an action may ask its next page to show: fixed text, chosen by key.
NOTICES = {
    "created": "The application was created. Generate its keys below.",
    "saved": "The changes were saved.",
    "deleted": "The application was deleted and every token of its keys revoked.",
    "key-saved": "The keys were saved.",
    "key-deleted": "The keys were deleted and their tokens revoked.",
    "revoked": "The application's access was revoked: it must ask you again.",
    "welcome": "Your account was created and you are signed in.",
}


def sessions_of(request: Request) -> SessionStore:
    return SessionStore.of(services_of(request), USER)


async def user_of(request: Request) -> BrowserSession | None:
    """The browser's session when someone signed in to it."""
    session = await sessions_of(request).from_request(request)
    if session is None or session.username is None:
        return None
    return session


def caller_of(user: BrowserSession) -> Caller:
    """The developer, named as the portal API names them: by the `sub` of their login."""
    return Caller("portal", user.subject)


def to_sign_in(request: Request) -> Response:
    """The sign-in page, which comes back here afterwards (a path of ours only). Without
    the portal, /account is for those who signed in at an application's login page."""
    if not services_of(request).settings.portal.enabled:
        return error_page(401, "Not signed in", "Sign in through an application first.")
    return redirect(f"/portal/login?{urlencode({'next': request.url.path})}", 303)


def notice_of(request: Request) -> str:
    return NOTICES.get(request.query_params.get("done", ""), "")


def back_to(path: str, notice: str) -> Response:
    return redirect(f"{path}?{urlencode({'done': notice})}", 303)


def page(template: str, user: BrowserSession, status: int = 200, **context: Any) -> Response:
    """A page for a signed-in user: the header names them and offers Sign out."""
    return render(
        f"portal/{template}",
        status,
        user=user.username,
        csrf_token=user.csrf_token,
        **context,
    )


def refused(user: BrowserSession) -> Response:
    return page(
        "message.html",
        user,
        403,
        title="The form expired",
        text="Nothing was changed. Reload the page and try again.",
        section="",
    )


def user_page(view: View) -> Page:
    async def endpoint(request: Request) -> Response:
        user = await user_of(request)
        if user is None:
            return to_sign_in(request)
        return await view(request, user)

    return endpoint


def user_action(action: Action) -> Page:
    """A POST: refused (403, nothing changed) without a sign-in, from another origin, or
    without this session's CSRF token."""

    async def endpoint(request: Request) -> Response:
        user = await user_of(request)
        form = PostedForm(await request.body())
        if user is None:
            return to_sign_in(request)
        if not is_same_origin(request, services_of(request).issuer) or not user.is_own_csrf_token(
            form.get("csrf_token")
        ):
            return refused(user)
        return await action(request, user, form)

    return endpoint


def view_route(path: str, view: View) -> Route:
    return Route(path, user_page(view), methods=["GET"])


def action_route(path: str, action: Action) -> Route:
    return Route(path, user_action(action), methods=["POST"])
