"""The CSRF token of a login form that stores nothing (the manager's and the portal's).

Before a login there is no session to bind a CSRF token to, and a session row made for every
`GET` of a login page would let anyone fill the database. Instead the page sets a cookie with
a random value and signs it: the token is an HMAC of the realm, that value and an expiry,
under a server secret kept in the registry, so that every process checks what any other
issued. A post is accepted with the cookie and the token issued for it, before the expiry;
another browser's token, or a token without its cookie, is refused. Nothing is written
until the login succeeds, and then the session is new (its id changes at login).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from starlette.requests import Request
from starlette.responses import Response

from authgate.pages import cookies
from authgate.pages.sessions import (
    ANONYMOUS_TTL,
    COOKIE_VALUE_LENGTH,
    Realm,
    clear_page_cookie,
    set_page_cookie,
)
from authgate.registry import Registry
from authgate.tokens import generate_token, now

SECRET_NAME = "login-csrf"
MAX_TOKEN_LENGTH = 128  # longer forms are not ours: nothing to compare


class LoginCsrf:
    """The pre-login CSRF tokens of one realm's login form."""

    def __init__(self, registry: Registry, realm: Realm, *, secure: bool) -> None:
        self.registry = registry
        self.realm = realm
        self.secure = secure
        # Its own cookie: the session cookie names a row, this one names nothing.
        self.cookie_name = realm.cookie_name(secure=secure) + cookies.LOGIN_SUFFIX

    def browser_value(self, request: Request) -> str | None:
        """The random value of this browser's pre-login cookie, if it sent a well-formed one."""
        value = request.cookies.get(self.cookie_name, "")
        if len(value) != COOKIE_VALUE_LENGTH or not value.isalnum() or not value.isascii():
            return None
        return value

    async def issue(self, request: Request) -> tuple[str, str]:
        """A token for this browser, and the cookie value it is bound to (a new one for a
        browser that has none yet)."""
        value = self.browser_value(request) or generate_token(COOKIE_VALUE_LENGTH)
        expires = now() + ANONYMOUS_TTL
        return f"{expires}.{await self._mac(value, expires)}", value

    async def is_valid(self, request: Request, token: str | None) -> bool:
        """Whether `token` was issued for this browser's cookie and has not expired."""
        value = self.browser_value(request)
        if value is None or token is None or len(token) > MAX_TOKEN_LENGTH:
            return False
        expires, _, mac = token.partition(".")
        if not expires.isdigit() or int(expires) <= now():
            return False
        expected = await self._mac(value, int(expires))
        return hmac.compare_digest(mac.encode(), expected.encode())

    def set_cookie(self, response: Response, value: str) -> Response:
        return set_page_cookie(
            response, self.realm, self.cookie_name, value, ANONYMOUS_TTL, self.secure
        )

    def clear_cookie(self, response: Response) -> Response:
        return clear_page_cookie(response, self.realm, self.cookie_name, self.secure)

    async def _mac(self, value: str, expires: int) -> str:
        key = await self.registry.secrets.get(SECRET_NAME)
        message = f"{self.realm.name}\x00{value}\x00{expires}".encode()
        digest = hmac.new(key.encode(), message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")
