"""`GET` and `POST /oauth2/logout`: OpenID Connect RP-Initiated Logout 1.0.

The relying party names itself with an `id_token_hint` this server issued; the login session
of that user ends, and the browser goes back at once to `post_logout_redirect_uri` when it is
one of the client's registered redirect URIs (exact match). Until the hint and the URI are
verified, every answer is a page and never a redirect.
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import Response

from authgate.forms import Form, parse_form_body, parse_query
from authgate.oidc import InvalidToken
from authgate.pages.sessions import USER, SessionStore
from authgate.pages.views import error_page, redirect, render
from authgate.services import Services

PARAMETERS = ("id_token_hint", "post_logout_redirect_uri", "state", "client_id")


class LogoutRefused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


async def _hint(services: Services, form: Form) -> tuple[str, str]:
    """The client and the user of the verified `id_token_hint`."""
    hint = form.get("id_token_hint")
    if hint is None:
        raise LogoutRefused("The logout request carries no id_token_hint.")
    try:
        claims = await services.oidc.id_tokens.verify_hint(hint)
    except InvalidToken:
        raise LogoutRefused("The id_token_hint is not a valid id token of this server.") from None
    audience = claims["aud"]
    client_id = claims.get("azp") if isinstance(audience, list) else audience
    if not isinstance(client_id, str):
        raise LogoutRefused("The id_token_hint names no client.")
    if form.get("client_id") not in (None, client_id):
        raise LogoutRefused("The client_id is not the audience of the id_token_hint.")
    return client_id, str(claims["sub"])


def _location(uri: str, state: str | None) -> str:
    if state is None:
        return uri
    separator = "&" if urlsplit(uri).query else "?"
    return uri + separator + urlencode({"state": state})


async def logout(request: Request) -> Response:
    services: Services = request.app.state.services
    if request.method == "POST":
        form = parse_form_body(await request.body(), request.headers)
    else:
        form = parse_query(request.url.query)
    try:
        if set(PARAMETERS) & form.repeated:
            raise LogoutRefused("A logout parameter is repeated.")
        client_id, subject = await _hint(services, form)
        client = await services.clients.get(client_id)
        if client is None:
            raise LogoutRefused("The application of this id_token_hint is not registered.")
        target = form.get("post_logout_redirect_uri")
        if target is not None and target not in client.redirect_uris:
            raise LogoutRefused("The post_logout_redirect_uri is not registered.")
    except LogoutRefused as exc:
        return error_page(400, "Logout refused", exc.message)
    store = SessionStore.of(services, USER)
    session = await store.from_request(request)
    response: Response = render("logged_out.html")
    if target is not None:
        response = redirect(_location(target, form.get("state")), 303)
    # Only the session of the user the hint names: a hint of one's own, planted in another
    # user's browser, ends nothing there.
    if session is not None and session.username and session.subject == subject:
        await store.delete(session)
        services.events.emit("logout", client_id=client_id, username=session.username)
        store.clear_cookie(response)
    return response
