"""`GET/POST /oauth2/authorize`: the browser pages of the authorization code grant.

GET checks the request (flows/authorization_request.py), keeps it in the browser's session and
shows the login form (or, for a logged-in browser, the consent form). POST takes either form
back. Until `client_id` and `redirect_uri` are verified, errors are pages and never redirects.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from authgate.errors import OAuthError
from authgate.flows.authorization_request import (
    AuthorizationRequestFlow,
    ClientRedirect,
    PendingRequest,
    UntrustedRequest,
    as_decision,
)
from authgate.flows.openid_request import needs_fresh_login
from authgate.forms import Form, parse_form_body, parse_query
from authgate.models import Client
from authgate.pages.origin import is_same_origin
from authgate.pages.sessions import USER, BrowserSession, SessionStore
from authgate.pages.views import error_page, redirect, render
from authgate.services import Services
from authgate.tokens import now

MAX_PENDING = 8  # authorization requests kept per browser session
_LOGIN_FAILED = "Incorrect username or password."


class PageError(Exception):
    """Answered with an HTML page: the post is refused or cannot be matched to a request."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message


def _flow(request: Request) -> AuthorizationRequestFlow:
    flow: AuthorizationRequestFlow = request.app.state.authorization_request
    return flow


def _answer(answer: ClientRedirect, status: int) -> Response:
    return redirect(answer.location, status)


# The session's pending requests


def _pending(session: BrowserSession, request_id: str | None) -> PendingRequest | None:
    entry = session.data.get("requests", {}).get(request_id or "")
    if entry is None:
        return None
    pending = PendingRequest.from_dict(entry)
    if pending.is_expired(now()):
        return None
    return pending


def _keep(session: BrowserSession, pending: PendingRequest) -> None:
    requests: dict[str, Any] = dict(session.data.get("requests", {}))
    requests[pending.request_id] = pending.to_dict()
    newest = sorted(requests.items(), key=lambda item: item[1]["created_at"])[-MAX_PENDING:]
    session.data["requests"] = dict(newest)


def _forget(session: BrowserSession, pending: PendingRequest) -> None:
    requests = dict(session.data.get("requests", {}))
    requests.pop(pending.request_id, None)
    session.data["requests"] = requests


# Pages


def _sessions(request: Request) -> SessionStore:
    services: Services = request.app.state.services
    return SessionStore.of(services, USER)


def _login_page(
    client: Client,
    session: BrowserSession,
    pending: PendingRequest,
    *,
    error: str | None = None,
    username: str = "",
) -> Response:
    return render(
        "login.html",
        client=client,
        csrf_token=session.csrf_token,
        request_id=pending.request_id,
        error=error,
        username=username,
    )


def _auth_time(session: BrowserSession) -> int | None:
    """When the session's user logged in: `auth_time` of the id token."""
    auth_time = session.data.get("auth_time")
    return auth_time if isinstance(auth_time, int) else None


def _needs_login(session: BrowserSession, pending: PendingRequest) -> bool:
    """No user yet, or `prompt=login` or `max_age` asks for a fresh login."""
    if not session.username:
        return True
    return needs_fresh_login(pending.prompt, pending.max_age, _auth_time(session), now())


async def _after_login(
    request: Request, client: Client, session: BrowserSession, pending: PendingRequest, status: int
) -> Response:
    """A logged-in browser: consent, unless the user approved these scopes always."""
    flow = _flow(request)
    username = session.username or ""
    store = _sessions(request)
    if pending.scopes is None:
        pending = await flow.resolve_scopes(pending, client, username)
        _keep(session, pending)
        await store.save(session)
    if "consent" not in pending.prompt and await flow.is_remembered(pending, username):
        _forget(session, pending)
        await store.save(session)
        answer = await flow.issue_code(
            pending, username=username, subject=session.subject, auth_time=_auth_time(session)
        )
        return _answer(answer, status)
    if "none" in pending.prompt:
        raise OAuthError("consent_required", "the user has not approved this request")
    return render(
        "consent.html",
        client=client,
        scopes=pending.scopes,
        username=username,
        csrf_token=session.csrf_token,
        request_id=pending.request_id,
    )


async def _show(request: Request) -> Response:
    flow = _flow(request)
    form = parse_query(request.url.query)
    target = await flow.target(form)
    try:
        pending = await flow.check(target, form)
    except OAuthError as exc:
        return _answer(flow.error(target.redirect_uri, form.get("state"), exc), 302)
    store = _sessions(request)
    session = await store.from_request(request)
    if session is None:
        session = await store.create(data={"requests": {pending.request_id: pending.to_dict()}})
    else:
        _keep(session, pending)
        await store.save(session)
    try:
        if not _needs_login(session, pending):
            response = await _after_login(request, target.client, session, pending, 302)
        elif "none" in pending.prompt:  # OpenID Connect Core 3.1.2.6: no page may be shown
            raise OAuthError("login_required", "the user is not logged in")
        else:
            response = _login_page(target.client, session, pending)
    except OAuthError as exc:
        return _answer(flow.error(pending.redirect_uri, pending.state, exc), 302)
    return store.set_cookie(response, session)


# Posts


async def _submit(request: Request) -> Response:
    services: Services = request.app.state.services
    if not is_same_origin(request, services.issuer):
        raise PageError(403, "Request refused", "The form was posted from another site.")
    form = parse_form_body(await request.body(), request.headers)
    store = _sessions(request)
    session = await store.from_request(request)
    if session is None or not session.is_own_csrf_token(form.get("csrf_token")):
        raise PageError(
            403,
            "Request refused",
            "Your session has expired or the form is not "
            "valid. Go back to the application and start again.",
        )
    if {"csrf_token", "request_id", "decision", "username", "password"} & form.repeated:
        raise PageError(400, "Invalid request", "A form field is repeated.")
    pending = _pending(session, form.get("request_id"))
    client = await services.clients.get(pending.client_id) if pending else None
    if pending is None or client is None:
        raise PageError(
            400,
            "Request expired",
            "This sign-in request has expired. Go back to the application and start again.",
        )
    try:
        if "decision" in form.values:
            return await _consent(request, session, pending, form)
        if "username" in form.values or "password" in form.values:
            return await _login(request, client, session, pending, form)
    except OAuthError as exc:
        _forget(session, pending)
        await store.save(session)
        return _answer(_flow(request).error(pending.redirect_uri, pending.state, exc), 303)
    raise PageError(400, "Invalid request", "The form is not a login or consent form.")


async def _login(
    request: Request, client: Client, session: BrowserSession, pending: PendingRequest, form: Form
) -> Response:
    services: Services = request.app.state.services
    username = form.values.get("username", "")
    password = form.values.get("password", "")
    user = None
    if username and password:
        user = await services.authentication.authenticate(
            username, password, client_id=client.client_id, attributes={}
        )
    if user is None:
        services.events.emit("login.failed", client_id=client.client_id, username=username)
        return _login_page(client, session, pending, error=_LOGIN_FAILED, username=username)
    services.events.emit(
        "login.succeeded", client_id=client.client_id, username=user.username, subject=user.subject
    )
    store = _sessions(request)
    session = await store.rotate(
        session, username=user.username, data={"subject": user.subject, "auth_time": now()}
    )
    response = await _after_login(request, client, session, pending, 303)
    return store.set_cookie(response, session)


async def _consent(
    request: Request, session: BrowserSession, pending: PendingRequest, form: Form
) -> Response:
    decision = as_decision(form.get("decision"))
    if session.username is None or pending.scopes is None:
        raise PageError(400, "Invalid request", "Sign in before you answer the consent form.")
    if decision is None:
        raise PageError(400, "Invalid request", "The consent decision is not valid.")
    _forget(session, pending)
    await _sessions(request).save(session)
    answer = await _flow(request).decide(
        pending,
        decision,
        username=session.username,
        subject=session.subject,
        auth_time=_auth_time(session),
    )
    return _answer(answer, 303)


async def authorize(request: Request) -> Response:
    try:
        if request.method == "POST":
            return await _submit(request)
        return await _show(request)
    except UntrustedRequest as exc:
        return error_page(400, exc.title, exc.message)
    except PageError as exc:
        return error_page(exc.status, exc.title, exc.message)
    except OAuthError as exc:  # a malformed query or body, before anything is trusted
        return error_page(exc.status, "Invalid request", exc.description)
