"""`POST /logout`: the end-user's way out of the browser's login session (SPEC.md,
"Hardening"). The consent page offers it as a button of its form.

Like every post of the pages, it needs the session's own CSRF token and a same-origin post:
otherwise any site could log a user out, or a stale page end a newer session.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from authgate.errors import OAuthError
from authgate.forms import parse_form_body
from authgate.pages.origin import is_same_origin
from authgate.pages.sessions import USER, SessionStore
from authgate.pages.views import error_page, render
from authgate.services import Services

_REFUSED = "The form is not valid or your session has already ended."


async def logout(request: Request) -> Response:
    services: Services = request.app.state.services
    store = SessionStore.of(services, USER)
    try:
        form = parse_form_body(await request.body(), request.headers)
    except OAuthError as exc:
        return error_page(exc.status, "Invalid request", exc.description)
    session = await store.from_request(request)
    if (
        session is None
        or not is_same_origin(request, services.issuer)
        or not session.is_own_csrf_token(form.get("csrf_token"))
    ):
        return error_page(403, "Request refused", _REFUSED)
    await store.delete(session)
    services.events.emit("logout", username=session.username)
    return store.clear_cookie(render("logged_out.html"))
