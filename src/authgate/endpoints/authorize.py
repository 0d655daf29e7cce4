"""`GET/POST /oauth2/authorize`: the browser half of RFC 6749 section 4.1, with RFC 7636 PKCE
and RFC 9207 `iss`.

GET checks the request, keeps it in the browser's session and shows the login form (or, for a
logged-in browser, the consent form). POST takes either form back. Until `client_id` and
`redirect_uri` are verified, errors are pages and never redirects (RFC 6749 section 4.1.2.1).
"""

from __future__ import annotations

import hmac
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import Response

from authgate.errors import OAuthError
from authgate.flows import scope_resolver
from authgate.flows.pkce import check_challenge
from authgate.forms import Form, parse_form_body, parse_query
from authgate.models import Client, TokenRecord
from authgate.pages.sessions import BrowserSession, SessionStore
from authgate.pages.views import error_page, redirect, render
from authgate.scopes import parse_scope
from authgate.services import Services
from authgate.tokens import digest, generate_token, new_grant_id, now

PENDING_TTL = 30 * 60  # seconds an authorization request waits for login and consent
MAX_PENDING = 8  # authorization requests kept per browser session
DECISIONS = ("approve_once", "approve_always", "deny")
_LOGIN_FAILED = "Incorrect username or password."


class PageError(Exception):
    """Answered with an HTML page: the redirect URI is not trusted, or the post is refused."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message


@dataclass(frozen=True, slots=True)
class PendingRequest:
    """A verified authorization request, kept in the session until it is answered."""

    request_id: str
    client_id: str
    redirect_uri: str
    redirect_uri_given: bool  # False: omitted, so the token request omits it too
    state: str | None
    requested: tuple[str, ...]
    scopes: tuple[str, ...] | None  # None until a scope policy has seen the user
    code_challenge: str | None
    created_at: int

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PendingRequest:
        scopes = data.get("scopes")
        return cls(
            **(data | {
                "requested": tuple(data["requested"]),
                "scopes": None if scopes is None else tuple(scopes),
            })
        )


# The two steps of trust: the client and its redirect URI, then everything else.


async def _trusted_target(services: Services, form: Form) -> tuple[Client, str, bool]:
    """The client and the redirect URI to answer at; a PageError while they are unverified."""
    if {"client_id", "redirect_uri"} & form.repeated:
        raise PageError(400, "Invalid request", "The client_id or redirect_uri is repeated.")
    client_id = form.get("client_id")
    if client_id is None:
        raise PageError(400, "Invalid request", "The request names no client (client_id).")
    client = await services.client(client_id)
    if client is None:
        raise PageError(400, "Unknown application", "No application is registered as this "
                        "client_id.")
    redirect_uri = form.get("redirect_uri")
    if redirect_uri is None:
        # RFC 6749 section 3.1.2.3: may be omitted only when exactly one is registered.
        if len(client.redirect_uris) != 1:
            raise PageError(400, "Invalid request", "The request must name a redirect_uri.")
        return client, client.redirect_uris[0], False
    if redirect_uri not in client.redirect_uris:  # exact match, RFC 9700 section 4.1.3
        raise PageError(400, "Invalid redirect URI", "The redirect_uri is not registered for "
                        "this application.")
    return client, redirect_uri, True


async def _check_request(
    services: Services, client: Client, form: Form, redirect_uri: str, given: bool
) -> PendingRequest:
    """RFC 6749 section 4.1.1 and RFC 7636 section 4.3; an OAuthError redirects."""
    form.reject_repeated(
        ("response_type", "scope", "state", "code_challenge", "code_challenge_method")
    )
    response_type = form.get("response_type")
    if response_type is None:
        raise OAuthError("invalid_request", "response_type is required")
    if response_type != "code":
        raise OAuthError("unsupported_response_type", "only response_type=code is supported")
    if not client.allows_grant("authorization_code"):
        raise OAuthError("unauthorized_client", "client may not use authorization_code")
    challenge = form.get("code_challenge")
    check_challenge(
        challenge,
        form.get("code_challenge_method"),
        required=client.is_public or services.settings.authorization_code.pkce == "always",
    )
    requested = parse_scope(form.get("scope"))
    scopes: tuple[str, ...] | None = None
    resolver = scope_resolver(services, "authorization_code")
    if services.settings.flow("authorization_code").scopes != "policy":
        scopes = await resolver.resolve(requested, client, {"oauth.client.id": client.client_id})
    return PendingRequest(
        request_id=generate_token(22),
        client_id=client.client_id,
        redirect_uri=redirect_uri,
        redirect_uri_given=given,
        state=form.get("state"),
        requested=requested,
        scopes=scopes,
        code_challenge=challenge,
        created_at=now(),
    )


# Redirects back to the client


def _client_redirect(services: Services, redirect_uri: str, state: str | None, status: int,
                     **params: str) -> Response:
    """RFC 6749 section 4.1.2 with RFC 9207 `iss`; a registered query component is kept."""
    values = dict(params)
    if state is not None:
        values["state"] = state
    values["iss"] = services.issuer
    separator = "&" if urlsplit(redirect_uri).query else "?"
    if redirect_uri.endswith(("?", "&")):
        separator = ""
    return redirect(redirect_uri + separator + urlencode(values), status)


def _error_redirect(services: Services, redirect_uri: str, state: str | None,
                    exc: OAuthError, status: int) -> Response:
    params: dict[str, str] = {"error": exc.code}
    if exc.description:
        params["error_description"] = exc.description
    return _client_redirect(services, redirect_uri, state, status, **params)


async def _issue_code(services: Services, pending: PendingRequest, session: BrowserSession,
                      scopes: tuple[str, ...], status: int) -> Response:
    settings = services.settings.authorization_code
    code = generate_token(settings.code_length)
    issued_at = now()
    record = TokenRecord(
        kind="authorization_code",
        client_id=pending.client_id,
        grant_id=new_grant_id(),
        scopes=scopes,
        issued_at=issued_at,
        expires_at=issued_at + settings.code_expiry,
        subject=session.data.get("subject") or session.username,
        username=session.username,
        redirect_uri=pending.redirect_uri if pending.redirect_uri_given else None,
        code_challenge=pending.code_challenge,
    )
    await services.codes.put([(digest(code), record)])
    services.events.emit("code.issued", client_id=pending.client_id, subject=record.subject,
                         scopes=scopes)
    return _client_redirect(services, pending.redirect_uri, pending.state, status, code=code)


# The session's pending requests


def _pending(session: BrowserSession, request_id: str | None) -> PendingRequest | None:
    entry = session.data.get("requests", {}).get(request_id or "")
    if entry is None:
        return None
    pending = PendingRequest.from_dict(entry)
    if pending.created_at + PENDING_TTL <= now():
        return None
    return pending


def _keep(session: BrowserSession, pending: PendingRequest) -> None:
    requests: dict[str, Any] = dict(session.data.get("requests", {}))
    requests[pending.request_id] = asdict(pending)
    newest = sorted(requests.items(), key=lambda item: item[1]["created_at"])[-MAX_PENDING:]
    session.data["requests"] = dict(newest)


def _forget(session: BrowserSession, pending: PendingRequest) -> None:
    requests = dict(session.data.get("requests", {}))
    requests.pop(pending.request_id, None)
    session.data["requests"] = requests


# Pages


def _cookie_name(services: Services) -> str:
    # `__Host-` binds the cookie to this host, path / and https (RFC 6265bis section 4.1.3.2).
    return "__Host-authgate_session" if _is_secure(services) else "authgate_session"


def _is_secure(services: Services) -> bool:
    return services.issuer.startswith("https://")


def _set_cookie(services: Services, response: Response, session: BrowserSession) -> Response:
    if session.cookie is not None:
        response.set_cookie(
            _cookie_name(services),
            session.cookie,
            max_age=session.ttl,
            path="/",
            secure=_is_secure(services),
            httponly=True,
            samesite="lax",
        )
    return response


def _login_page(client: Client, session: BrowserSession, pending: PendingRequest, *,
                error: str | None = None, username: str = "") -> Response:
    return render("login.html", client=client, csrf_token=session.csrf_token,
                  request_id=pending.request_id, error=error, username=username)


async def _after_login(services: Services, client: Client, session: BrowserSession,
                       pending: PendingRequest, status: int) -> Response:
    """A logged-in browser: consent, unless the user approved these scopes always."""
    username = session.username or ""
    scopes = pending.scopes
    if scopes is None:
        resolver = scope_resolver(services, "authorization_code")
        attributes = {"oauth.client.id": client.client_id}
        scopes = await resolver.resolve(pending.requested, client, attributes, username=username)
        pending = PendingRequest.from_dict(asdict(pending) | {"scopes": scopes})
        _keep(session, pending)
        await SessionStore(services.registry).save(session)
    remembered = await services.registry.remembered_scopes(username, client.client_id)
    if remembered and set(scopes) <= remembered:
        _forget(session, pending)
        await SessionStore(services.registry).save(session)
        return await _issue_code(services, pending, session, scopes, status)
    return render("consent.html", client=client, scopes=scopes, username=username,
                  csrf_token=session.csrf_token, request_id=pending.request_id)


async def _show(request: Request) -> Response:
    services: Services = request.app.state.services
    form = parse_query(request.url.query)
    client, redirect_uri, given = await _trusted_target(services, form)
    try:
        pending = await _check_request(services, client, form, redirect_uri, given)
    except OAuthError as exc:
        return _error_redirect(services, redirect_uri, form.get("state"), exc, 302)
    store = SessionStore(services.registry)
    session = await store.load(request.cookies.get(_cookie_name(services)))
    if session is None:
        session = await store.create(data={"requests": {pending.request_id: asdict(pending)}})
    else:
        _keep(session, pending)
        await store.save(session)
    try:
        if session.username:
            response = await _after_login(services, client, session, pending, 302)
        else:
            response = _login_page(client, session, pending)
    except OAuthError as exc:
        return _error_redirect(services, pending.redirect_uri, pending.state, exc, 302)
    return _set_cookie(services, response, session)


# Posts


def _origin_is_ours(request: Request, issuer: str) -> bool:
    """A cross-site post (login CSRF, consent forgery) is refused by its Origin."""
    if request.headers.get("sec-fetch-site", "same-origin") != "same-origin":
        return False  # Fetch Metadata: the browser says the form was on another origin
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        # Under `Referrer-Policy: no-referrer` browsers send `Origin: null` even for our own
        # forms; then Fetch Metadata (above) and the CSRF token decide.
        return True
    issuer_parts = urlsplit(issuer)
    ours = {f"{issuer_parts.scheme}://{issuer_parts.netloc}".lower()}
    host = request.headers.get("host")
    if host:
        ours.add(f"{request.url.scheme}://{host}".lower())
    return origin.lower() in ours


async def _submit(request: Request) -> Response:
    services: Services = request.app.state.services
    if not _origin_is_ours(request, services.issuer):
        raise PageError(403, "Request refused", "The form was posted from another site.")
    form = parse_form_body(await request.body(), request.headers)
    store = SessionStore(services.registry)
    session = await store.load(request.cookies.get(_cookie_name(services)))
    token = form.get("csrf_token")
    if session is None or token is None or not hmac.compare_digest(
        token.encode(), session.csrf_token.encode()
    ):
        raise PageError(403, "Request refused", "Your session has expired or the form is not "
                        "valid. Go back to the application and start again.")
    if {"csrf_token", "request_id", "decision", "username", "password"} & form.repeated:
        raise PageError(400, "Invalid request", "A form field is repeated.")
    pending = _pending(session, form.get("request_id"))
    client = await services.client(pending.client_id) if pending else None
    if pending is None or client is None:
        raise PageError(400, "Request expired", "This sign-in request has expired. Go back "
                        "to the application and start again.")
    try:
        if "decision" in form.values:
            return await _consent(services, client, session, pending, form)
        if "username" in form.values or "password" in form.values:
            return await _login(services, client, session, pending, form)
    except OAuthError as exc:
        _forget(session, pending)
        await store.save(session)
        return _error_redirect(services, pending.redirect_uri, pending.state, exc, 303)
    raise PageError(400, "Invalid request", "The form is not a login or consent form.")


async def _login(services: Services, client: Client, session: BrowserSession,
                 pending: PendingRequest, form: Form) -> Response:
    username = form.values.get("username", "")
    password = form.values.get("password", "")
    user = None
    if username and password:
        user = await services.authenticate_user(
            username, password, client_id=client.client_id, attributes={}
        )
    if user is None:
        services.events.emit("login.failed", client_id=client.client_id, username=username)
        return _login_page(client, session, pending, error=_LOGIN_FAILED, username=username)
    services.events.emit("login.succeeded", client_id=client.client_id, username=user.username,
                         subject=user.subject)
    session = await SessionStore(services.registry).rotate(
        session, username=user.username, subject=user.subject
    )
    response = await _after_login(services, client, session, pending, 303)
    return _set_cookie(services, response, session)


async def _consent(services: Services, client: Client, session: BrowserSession,
                   pending: PendingRequest, form: Form) -> Response:
    decision = form.get("decision")
    if session.username is None or pending.scopes is None:
        raise PageError(400, "Invalid request", "Sign in before you answer the consent form.")
    if decision not in DECISIONS:
        raise PageError(400, "Invalid request", "The consent decision is not valid.")
    _forget(session, pending)
    await SessionStore(services.registry).save(session)
    if decision == "deny":
        services.events.emit("consent.denied", client_id=client.client_id,
                             username=session.username)
        denied = OAuthError("access_denied", "the resource owner denied the request")
        return _error_redirect(services, pending.redirect_uri, pending.state, denied, 303)
    if decision == "approve_always":
        await services.registry.remember_consent(session.username, client.client_id,
                                                 pending.scopes)
    services.events.emit("consent.granted", client_id=client.client_id,
                         username=session.username, scopes=pending.scopes,
                         remembered=decision == "approve_always")
    return await _issue_code(services, pending, session, pending.scopes, 303)


async def authorize(request: Request) -> Response:
    try:
        if request.method == "POST":
            return await _submit(request)
        return await _show(request)
    except PageError as exc:
        return error_page(exc.status, exc.title, exc.message)
    except OAuthError as exc:  # a malformed query or body, before anything is trusted
        return error_page(exc.status, "Invalid request", exc.description)
