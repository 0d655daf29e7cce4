"""Sign in and sign up at the developer portal.

Sign-in is the login page's: the same user repository (`[flows.password] users`), the same
lockout, and the same `user` session, whose id changes at sign-in. The forms carry the
stateless pre-login CSRF token (pages/login_csrf.py), so showing them stores nothing.
Sign-up (`[portal] signup = "open"`) adds a Local User Store account and signs it in.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from authgate.operations import Caller, OperationError, parse, users
from authgate.pages.console.base import NO_ERROR, FormError, PostedForm, services_of
from authgate.pages.login_csrf import LoginCsrf
from authgate.pages.origin import is_same_origin
from authgate.pages.portal.base import back_to, sessions_of, user_of
from authgate.pages.sessions import LOGIN_TTL, USER
from authgate.pages.views import error_page, redirect, render
from authgate.tokens import now

SIGN_IN_FAILED = "Wrong username or password."
EXPIRED = "The form expired. Reload the page."
MIN_PASSWORD = 8  # characters of a password chosen at sign-up


def _csrf(request: Request) -> LoginCsrf:
    services = services_of(request)
    return LoginCsrf(services.registry, USER, secure=services.issuer.startswith("https://"))


def _next(request: Request) -> str:
    """Where to go after signing in: a portal or account path of ours, else the portal."""
    wanted = request.query_params.get("next", "")
    if wanted.startswith(("/portal/", "/account")) and "//" not in wanted and "\\" not in wanted:
        return wanted
    return "/portal"


def _signup_open(request: Request) -> bool:
    settings = services_of(request).settings
    return settings.portal.signup == "open" and settings.flows.password.users == "local"


def _form(
    request: Request,
    template: str,
    csrf_token: str,
    *,
    error: FormError = NO_ERROR,
    username: str = "",
) -> Response:
    return render(
        f"portal/{template}",
        error.status,
        csrf_token=csrf_token,
        error=error,
        username=username,
        next=_next(request),
        signup=_signup_open(request),
        user=None,
        section="signin",
    )


async def sign_in_page(request: Request) -> Response:
    if await user_of(request) is not None:
        return redirect(_next(request), 303)
    csrf = _csrf(request)
    token, value = await csrf.issue(request)
    return csrf.set_cookie(_form(request, "signin.html", token), value)


async def _checked(request: Request, csrf: LoginCsrf) -> PostedForm | None:
    """The posted form, or None when it is not from our page in this browser."""
    form = PostedForm(await request.body())
    same_origin = is_same_origin(request, services_of(request).issuer)
    if not same_origin or not await csrf.is_valid(request, form.get("csrf_token")):
        return None
    return form


async def _signed_in(request: Request, csrf: LoginCsrf, username: str, subject: str) -> Response:
    """A new session for the user (the old one, if any, ends): the id changes at sign-in."""
    sessions = sessions_of(request)
    old = await sessions.from_request(request)
    if old is not None:
        await sessions.delete(old)
    session = await sessions.create(
        username=username, data={"subject": subject, "auth_time": now()}, ttl=LOGIN_TTL
    )
    return csrf.clear_cookie(sessions.set_cookie(redirect(_next(request), 303), session))


async def sign_in(request: Request) -> Response:
    csrf = _csrf(request)
    form = await _checked(request, csrf)
    if form is None:
        return _form(request, "signin.html", "", error=FormError(403, EXPIRED))
    services = services_of(request)
    username, password = form.text("username"), form.get("password")
    user = None
    if username and password:
        user = await services.authentication.authenticate(
            username, password, client_id="portal", attributes={}
        )
    if user is None:
        services.events.emit("login.failed", client_id="portal", username=username)
        token, _ = await csrf.issue(request)  # the browser keeps its cookie
        failed = FormError(401, SIGN_IN_FAILED)
        return _form(request, "signin.html", token, error=failed, username=username)
    services.events.emit(
        "login.succeeded", client_id="portal", username=user.username, subject=user.subject
    )
    return await _signed_in(request, csrf, user.username, user.subject)


async def sign_up_page(request: Request) -> Response:
    if not _signup_open(request):
        return error_page(404, "Not found", "Sign-up is closed: ask an operator for an account.")
    csrf = _csrf(request)
    token, value = await csrf.issue(request)
    return csrf.set_cookie(_form(request, "signup.html", token), value)


async def sign_up(request: Request) -> Response:
    if not _signup_open(request):
        return error_page(404, "Not found", "Sign-up is closed: ask an operator for an account.")
    csrf = _csrf(request)
    form = await _checked(request, csrf)
    if form is None:
        return _form(request, "signup.html", "", error=FormError(403, EXPIRED))
    username, password = form.text("username"), form.get("password")
    error = NO_ERROR
    if len(password) < MIN_PASSWORD:
        error = FormError(
            422, f"Choose a password of at least {MIN_PASSWORD} characters.", "password"
        )
    elif password != form.get("password_again"):
        error = FormError(422, "The two passwords differ.", "password_again")
    else:
        try:
            request_model = parse(users.UserCreate, {"username": username, "password": password})
            created = await users.create_user(
                services_of(request), Caller("portal", username), request_model
            )
        except OperationError as exc:
            error = FormError.of(exc, conflict_field="username")
            if error.status == 409:
                error = FormError(409, "That username is taken.", "username")
    if error is not NO_ERROR:
        token, _ = await csrf.issue(request)
        return _form(request, "signup.html", token, error=error, username=username)
    response = await _signed_in(request, csrf, created.username, created.username)
    if _next(request) == "/portal":
        response.headers["Location"] = back_to("/portal", "welcome").headers["Location"]
    return response
