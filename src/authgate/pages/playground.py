"""`authgate serve --demo`: a demo client application at /playground (WSO2's playground).

It plays a photo app that imports photos: it sends the browser to /oauth2/authorize with
`state` and a PKCE S256 challenge, and at /playground/callback exchanges the code at the token
endpoint over real HTTP, as any client would, then introspects the access token. Asked to sign
in with OpenID Connect, it adds `openid` and a `nonce`, and shows the id token decoded.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from authgate.clients import hash_secret
from authgate.flows.pkce import s256
from authgate.oidc import OPENID, InvalidToken
from authgate.pages import cookies
from authgate.pages.views import redirect, render
from authgate.registry import AlreadyExists
from authgate.services import Services
from authgate.tokens import generate_token

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("authgate.playground")

CLIENT_ID = "playground"
CLIENT_NAME = "Photo Studio"
USERNAME = "demo"
SCOPES = ("photos.read", "photos.write")
COOKIE = cookies.PLAYGROUND  # the client's own state: state, code_verifier and nonce
COOKIE_TTL = 15 * 60


@dataclass(frozen=True, slots=True)
class Demo:
    client_id: str
    client_secret: str
    redirect_uri: str
    scopes: tuple[str, ...]


async def seed(services: Services) -> Demo:
    """Register the demo client and user (again) with fresh credentials, and print them once."""
    registry = services.registry
    redirect_uri = f"{services.issuer}/playground/callback"
    secret = generate_token(48)
    password = generate_token(16)
    try:
        await registry.create_client(
            CLIENT_NAME,
            client_id=CLIENT_ID,
            client_secret=secret,
            redirect_uris=[redirect_uri],
            scopes=(*SCOPES, OPENID),
            grant_types=["authorization_code", "refresh_token"],
            can_introspect=True,
        )
    except AlreadyExists:
        # Restarted: the old secret is gone (only its hash was kept), so set a new one.
        await registry.update_client(
            CLIENT_ID,
            secret_hash=hash_secret(secret),
            redirect_uris=[redirect_uri],
            scopes=(*SCOPES, OPENID),
            can_introspect=True,
        )
    try:
        await registry.create_user(USERNAME, password)
    except AlreadyExists:
        await registry.set_user_password(USERNAME, password)
    print(
        f"authgate demo: open {services.issuer}/playground\n"
        f"  user:          {USERNAME}\n"
        f"  password:      {password}\n"
        f"  client_id:     {CLIENT_ID}\n"
        f"  client_secret: {secret}\n"
        f"  redirect_uri:  {redirect_uri}",
        flush=True,
    )
    return Demo(CLIENT_ID, secret, redirect_uri, SCOPES)


def _context(request: Request) -> tuple[Services, Demo]:
    return request.app.state.services, request.app.state.demo


def _details(services: Services, demo: Demo) -> list[tuple[str, str]]:
    return [
        ("Authorization grant type", "Authorization Code with PKCE (S256)"),
        ("Client ID", demo.client_id),
        ("Scope", " ".join(demo.scopes)),
        ("Callback URL", demo.redirect_uri),
        ("Authorize endpoint", f"{services.issuer}/oauth2/authorize"),
        ("Access token endpoint", f"{services.issuer}/oauth2/token"),
    ]


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


async def home(request: Request) -> Response:
    services, demo = _context(request)
    if _origin(str(request.url)) != _origin(services.issuer):
        # The callback comes back to the issuer's host: start there, so the cookie is too.
        return redirect(f"{services.issuer}/playground")
    return render("playground.html", details=_details(services, demo))


async def start(request: Request) -> Response:
    """Import Photos: send the browser to the authorization endpoint (RFC 6749 4.1.1)."""
    services, demo = _context(request)
    state = generate_token(32)
    verifier = generate_token(64)
    params = {
        "response_type": "code",
        "client_id": demo.client_id,
        "redirect_uri": demo.redirect_uri,
        "scope": " ".join(demo.scopes),
        "state": state,
        "code_challenge": s256(verifier),
        "code_challenge_method": "S256",
    }
    nonce = ""
    if request.query_params.get(OPENID):
        nonce = generate_token(32)
        params |= {"scope": " ".join((OPENID, *demo.scopes)), "nonce": nonce}
    response = redirect(f"{services.issuer}/oauth2/authorize?{urlencode(params)}")
    response.set_cookie(
        COOKIE,
        f"{state}.{verifier}.{nonce}",
        max_age=COOKIE_TTL,
        path="/playground",
        secure=services.issuer.startswith("https://"),
        httponly=True,
        samesite="lax",
    )
    return response


ClientAuth = tuple[dict[str, str], tuple[str, str] | None]  # (form fields, Basic credentials)


def client_auth(services: Services, demo: Demo) -> ClientAuth:
    """Authenticate the way `[client_auth] location` accepts."""
    settings = services.settings.client_auth
    if settings.location == "body":
        return {
            settings.client_id_field: demo.client_id,
            settings.client_secret_field: demo.client_secret,
        }, None
    return {}, (demo.client_id, demo.client_secret)


async def post_form(
    client: httpx.AsyncClient, url: str, form: dict[str, str], auth: ClientAuth
) -> dict[str, Any]:
    fields, basic = auth
    if basic is None:
        answer = await client.post(url, data=form | fields)
    else:
        answer = await client.post(url, data=form | fields, auth=basic)
    try:
        body: dict[str, Any] = answer.json()
    except ValueError:
        body = {"status": answer.status_code, "body": answer.text[:500]}
    return body


def _failed(title: str, message: str, status: int = 400, **extra: Any) -> Response:
    return render(
        "playground_callback.html",
        status,
        ok=False,
        title=title,
        message=message,
        token=extra.get("token"),
        introspection=None,
        id_token=None,
    )


async def callback(request: Request) -> Response:
    """The client's redirect endpoint: check state and iss, exchange the code, introspect."""
    services, demo = _context(request)
    params = request.query_params
    state, _, rest = request.cookies.get(COOKIE, "").partition(".")
    verifier, _, nonce = rest.partition(".")
    if params.get("iss") != services.issuer:  # RFC 9207 section 2.4: mix-up defence
        response = _failed("Wrong issuer", "The response did not come from this authgate.")
    elif not state or params.get("state") != state:
        response = _failed(
            "State mismatch",
            "This response does not belong to a request "
            "this browser started. Start again with Import Photos.",
        )
    elif params.get("error"):
        response = _failed(
            f"Authorization failed: {params['error']}", params.get("error_description", "")
        )
    elif not params.get("code"):
        response = _failed("No code", "The response carries no authorization code.")
    else:
        response = await _exchange(services, demo, params["code"], verifier, nonce)
    response.delete_cookie(COOKIE, path="/playground")
    return response


async def decoded_id_token(
    services: Services, token: dict[str, Any], nonce: str, client_id: str = CLIENT_ID
) -> str | None:
    """The id token's header and claims, once checked as a relying party checks them."""
    value = token.get("id_token")
    if not isinstance(value, str):
        return None
    try:
        claims = await services.oidc.id_tokens.verify_hint(value)
        header = (await services.oidc.ring.verify(value)).header
    except InvalidToken as exc:
        return f"The id token does not verify: {exc}"
    if claims.get("nonce") != nonce or claims.get("aud") != client_id:
        return "The id token is not for this request (nonce or aud)."
    return json.dumps({"header": header, "claims": claims}, indent=2)


async def _exchange(
    services: Services, demo: Demo, code: str, verifier: str, nonce: str
) -> Response:
    auth = client_auth(services, demo)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": demo.redirect_uri,
        "code_verifier": verifier,
    }
    import httpx  # here: only a demo server pays for the HTTP client

    try:
        async with httpx.AsyncClient(timeout=10) as http:
            token = await post_form(http, f"{services.issuer}/oauth2/token", form, auth)
            access_token = token.get("access_token")
            if not isinstance(access_token, str):
                return _failed(
                    "Token request failed",
                    "The token endpoint refused the code.",
                    token=json.dumps(token, indent=2),
                )
            introspection = await post_form(
                http, f"{services.issuer}/oauth2/introspect", {"token": access_token}, auth
            )
    except httpx.HTTPError as exc:
        log.warning("playground could not reach %s: %s", services.issuer, exc)
        return _failed(
            "Token endpoint unreachable",
            f"{type(exc).__name__} while calling {services.issuer}/oauth2/token.",
            502,
        )
    return render(
        "playground_callback.html",
        ok=True,
        title="Photos imported",
        message="The playground received an access token.",
        token=json.dumps(token, indent=2),
        introspection=json.dumps(introspection, indent=2),
        id_token=await decoded_id_token(services, token, nonce) if nonce else None,
    )


def routes() -> list[BaseRoute]:
    return [
        Route("/playground", home),
        Route("/playground/start", start),
        Route("/playground/callback", callback),
    ]
