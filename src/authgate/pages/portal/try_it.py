"""Try it: the playground bound to an application's sandbox keys (seed 004's playground).

The developer picks the scope and the callback and types the consumer secret, which
authgate cannot show again (it keeps only a hash). The portal then plays the client: it
sends the browser to /oauth2/authorize with `state`, a PKCE S256 challenge and, when
`openid` is asked for, a `nonce`; at its callback it exchanges the code at the token
endpoint as the sandbox key, and shows the token response, the token as
introspection describes it, and the id token decoded.

Between the two steps the secret is kept in the browser's session sealed under a random key
that only the browser's Try it cookie holds, so a copy of the database opens nothing.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote_plus, urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message

from authgate.clients import ClientCredentials, verify_client
from authgate.endpoints.introspect import INACTIVE, describe
from authgate.errors import OAuthError
from authgate.flows.pkce import s256
from authgate.oidc import OPENID
from authgate.operations import OperationError, applications
from authgate.pages import cookies
from authgate.pages.console.base import NO_ERROR, FormError, PostedForm, services_of
from authgate.pages.playground import ClientAuth, Demo, client_auth, decoded_id_token
from authgate.pages.portal.applications import missing
from authgate.pages.portal.base import (
    action_route,
    caller_of,
    page,
    sessions_of,
    user_of,
    view_route,
)
from authgate.pages.portal.keys import TRY_IT_CALLBACK, try_it_callback
from authgate.pages.sessions import BrowserSession
from authgate.pages.views import redirect
from authgate.sealing import seal, unseal
from authgate.tokens import digest, generate_token

TRY_IT = "/portal/applications/{app_id}/try"
COOKIE_TTL = 15 * 60  # seconds a started flow may take to come back


async def _sandbox(
    request: Request, user: BrowserSession
) -> tuple[applications.ApplicationView, applications.KeyView | None] | None:
    try:
        app = await applications.get_application(
            services_of(request), caller_of(user), request.path_params["app_id"]
        )
    except OperationError:
        return None
    return app, app.keys["sandbox"]


def _form(
    request: Request,
    user: BrowserSession,
    app: applications.ApplicationView,
    key: applications.KeyView | None,
    error: FormError = NO_ERROR,
    values: dict[str, str] | None = None,
) -> Response:
    services = services_of(request)
    callback = try_it_callback(services)
    if values is None and key is not None:
        chosen = callback if callback in key.redirect_uris else next(iter(key.redirect_uris), "")
        values = {"scope": " ".join(key.scopes), "redirect_uri": chosen}
    return page(
        "try_it.html",
        user,
        error.status,
        app=app,
        key=key,
        tab="try",
        error=error,
        values=values or {"scope": "", "redirect_uri": ""},
        try_it_callback=callback,
        section="applications",
    )


async def try_it_page(request: Request, user: BrowserSession) -> Response:
    found = await _sandbox(request, user)
    if found is None:
        return await missing(user)
    return _form(request, user, *found)


async def start(request: Request, user: BrowserSession, form: PostedForm) -> Response:
    """Send the browser to the authorization endpoint as the sandbox key (RFC 6749 4.1.1)."""
    found = await _sandbox(request, user)
    if found is None:
        return await missing(user)
    app, key = found
    services = services_of(request)
    values = {"scope": " ".join(form.words("scope")), "redirect_uri": form.text("redirect_uri")}
    if key is None:
        return _form(request, user, app, key, FormError(409, "Generate sandbox keys first."))
    client = await services.clients.get(key.client_id)
    secret = form.get("client_secret").strip()
    try:
        verify_client(client, ClientCredentials(key.client_id, secret, via_header=False))
    except OAuthError:
        wrong = FormError(422, "This is not the sandbox keys' consumer secret.", "client_secret")
        return _form(request, user, app, key, wrong, values)
    if values["redirect_uri"] not in key.redirect_uris:
        unknown = FormError(422, "Choose one of the sandbox keys' callback URLs.", "redirect_uri")
        return _form(request, user, app, key, unknown, values)
    opener, state, verifier = (generate_token(43), generate_token(32), generate_token(64))
    nonce = generate_token(32) if OPENID in values["scope"].split() else ""
    user.data["try_it"] = {
        "app_id": app.app_id,
        "client_id": key.client_id,
        "redirect_uri": values["redirect_uri"],
        "state": state,
        "verifier": verifier,
        "nonce": nonce,
        "secret": seal(opener, secret.encode()),
    }
    await sessions_of(request).save(user)
    params = {
        "response_type": "code",
        "client_id": key.client_id,
        "redirect_uri": values["redirect_uri"],
        "state": state,
        "code_challenge": s256(verifier),
        "code_challenge_method": "S256",
    }
    if values["scope"]:
        params["scope"] = values["scope"]
    if nonce:
        params["nonce"] = nonce
    response = redirect(f"{services.issuer}/oauth2/authorize?{urlencode(params)}", 303)
    response.set_cookie(
        cookies.TRY_IT,
        opener,
        max_age=COOKIE_TTL,
        path=TRY_IT_CALLBACK,
        secure=services.issuer.startswith("https://"),
        httponly=True,
        samesite="lax",
    )
    return response


def _result(user: BrowserSession, status: int = 200, **context: Any) -> Response:
    defaults: dict[str, Any] = {
        "ok": False,
        "app": None,
        "token": None,
        "introspection": None,
        "id_token": None,
    }
    return page("try_it_result.html", user, status, section="applications", **defaults | context)


async def callback(request: Request) -> Response:
    """The Try it callback: check iss and state, exchange the code, describe the token."""
    user = await user_of(request)
    if user is None:
        return redirect("/portal/login", 303)
    services = services_of(request)
    flow = user.data.pop("try_it", None)
    if isinstance(flow, dict):
        await sessions_of(request).save(user)  # one use: a replayed callback finds nothing
    params = request.query_params
    opener = request.cookies.get(cookies.TRY_IT, "")
    secret = unseal(opener, flow["secret"]) if isinstance(flow, dict) and opener else None
    if not isinstance(flow, dict) or secret is None or params.get("state") != flow["state"]:
        response = _result(
            user, 400, title="State mismatch", message="Start again from the Try it tab."
        )
    elif params.get("iss") != services.issuer:  # RFC 9207 section 2.4: mix-up defence
        response = _result(user, 400, title="Wrong issuer", message="Start again from Try it.")
    elif params.get("error") or not params.get("code"):
        failure = params.get("error", "no code")
        response = _result(
            user,
            400,
            title=f"Authorization failed: {failure}",
            message=params.get("error_description", ""),
        )
    else:
        response = await _exchange(request, user, flow, params["code"], secret.decode())
    response.delete_cookie(cookies.TRY_IT, path=TRY_IT_CALLBACK)
    return response


async def _token_request(app: ASGIApp, form: dict[str, str], auth: ClientAuth) -> dict[str, Any]:
    """POST /oauth2/token through the application itself, as a client's request arrives
    (the same route, limits, client authentication and flow), without a socket: the server
    needs no HTTP client of its own for this."""
    fields, basic = auth
    headers = [(b"content-type", b"application/x-www-form-urlencoded")]
    if basic is not None:
        pair = ":".join(quote_plus(part) for part in basic)  # RFC 6749 section 2.3.1
        headers.append((b"authorization", b"Basic " + base64.b64encode(pair.encode())))
    body = urlencode(form | fields).encode()
    headers.append((b"content-length", str(len(body)).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/oauth2/token",
        "raw_path": b"/oauth2/token",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 0),
        "server": ("127.0.0.1", 0),
    }
    sent = False
    answer: list[bytes] = []

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.body":
            answer.append(message.get("body", b""))

    await app(scope, receive, send)
    try:
        parsed: dict[str, Any] = json.loads(b"".join(answer))
    except ValueError:
        parsed = {"error": "server_error"}
    return parsed


async def _exchange(
    request: Request, user: BrowserSession, flow: dict[str, Any], code: str, secret: str
) -> Response:
    services = services_of(request)
    key = Demo(flow["client_id"], secret, flow["redirect_uri"], ())
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": flow["redirect_uri"],
        "code_verifier": flow["verifier"],
    }
    token = await _token_request(request.app, form, client_auth(services, key))
    shown = json.dumps(token, indent=2)
    access_token = token.get("access_token")
    if not isinstance(access_token, str):
        return _result(
            user, 400, title="Token request failed", message="The code was refused.", token=shown
        )
    record = await services.tokens.get(digest(access_token))
    described = describe(record) if record is not None and not record.consumed else INACTIVE
    id_token = None
    if flow["nonce"]:
        id_token = await decoded_id_token(services, token, flow["nonce"], flow["client_id"])
    return _result(
        user,
        ok=True,
        title="Access token received",
        message="The sandbox keys received an access token through the code flow.",
        app_id=flow["app_id"],
        token=shown,
        introspection=json.dumps(described, indent=2),
        id_token=id_token,
    )


def try_it_routes() -> list[Route]:
    return [
        view_route(TRY_IT, try_it_page),
        action_route(TRY_IT, start),
        Route(TRY_IT_CALLBACK, callback, methods=["GET"]),
    ]
