"""Server-side browser sessions of every page, in the `sessions` table, and their cookies.

The cookie holds a random value; the table keeps only its digest, so a copy of the database
cannot be replayed as a session. Each session carries its own CSRF token (synchronizer token
pattern) and, in `data`, what its pages keep (the authorization requests waiting for login or
consent). A session belongs to one realm: a cookie of the login pages is no manager session,
and a manager cookie is no login session.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, delete, insert, select, update
from starlette.requests import Request
from starlette.responses import Response

from authgate.db.schema import sessions
from authgate.pages import cookies
from authgate.registry import Registry
from authgate.services import Services
from authgate.tokens import digest, generate_token, now

COOKIE_VALUE_LENGTH = 43  # 43 characters of 62 symbols: 256 bits
MAX_COOKIE_LENGTH = 128  # longer values are not ours: no lookup
CSRF_TOKEN_LENGTH = 43
ANONYMOUS_TTL = 30 * 60  # seconds a browser has to log in
LOGIN_TTL = 8 * 3600  # seconds a login is remembered (the login session)


@dataclass(frozen=True, slots=True)
class Realm:
    """Who a session is for, and the cookie that carries it."""

    name: Literal["user", "admin"]
    cookie: str
    path: str

    def cookie_name(self, *, secure: bool) -> str:
        # `__Host-` binds the cookie to this host, path / and https (RFC 6265bis 4.1.3.2).
        return f"{cookies.HOST_PREFIX}{self.cookie}" if secure and self.path == "/" else self.cookie


USER = Realm("user", cookies.SESSION, "/")  # the login and consent pages
ADMIN = Realm("admin", cookies.MANAGER, "/manager")  # the web manager


@dataclass(slots=True)
class BrowserSession:
    key: str  # digest of the cookie value
    csrf_token: str
    username: str | None  # None until the browser logs in
    expires_at: int
    data: dict[str, Any] = field(default_factory=dict)
    cookie: str | None = None  # the raw value, only right after it was issued

    @property
    def subject(self) -> str:
        """The `sub` the user repository answered at login (LDAP, policy), else the username."""
        subject = self.data.get("subject")
        return subject if isinstance(subject, str) and subject else self.username or ""

    @property
    def ttl(self) -> int:
        return max(1, self.expires_at - now())

    def is_own_csrf_token(self, sent: str | None) -> bool:
        """Whether a form carries this session's CSRF token (compared in constant time)."""
        return sent is not None and hmac.compare_digest(sent.encode(), self.csrf_token.encode())


class SessionStore:
    """The sessions of one realm, and the cookie that names them."""

    def __init__(self, registry: Registry, realm: Realm, *, secure: bool) -> None:
        self.registry = registry
        self.realm = realm
        self.secure = secure
        self.cookie_name = realm.cookie_name(secure=secure)

    @classmethod
    def of(cls, services: Services, realm: Realm) -> SessionStore:
        return cls(services.registry, realm, secure=services.issuer.startswith("https://"))

    def _this(self, key: str) -> ColumnElement[bool]:
        """The row of a session key, in this realm only."""
        return and_(sessions.c.session_key == key, sessions.c.realm == self.realm.name)

    async def load(self, cookie: str | None) -> BrowserSession | None:
        """The live session the cookie value names in this realm, else None."""
        if not cookie or len(cookie) > MAX_COOKIE_LENGTH:
            return None
        key = digest(cookie)
        async with self.registry.transaction() as conn:
            row = (await conn.execute(select(sessions).where(self._this(key)))).first()
        if row is None or row.expires_at <= now():
            return None
        return BrowserSession(
            key=key,
            csrf_token=row.csrf_token,
            username=row.username,
            expires_at=row.expires_at,
            data=json.loads(row.data),
        )

    async def from_request(self, request: Request) -> BrowserSession | None:
        return await self.load(request.cookies.get(self.cookie_name))

    async def create(
        self,
        *,
        username: str | None = None,
        data: dict[str, Any] | None = None,
        ttl: int = ANONYMOUS_TTL,
    ) -> BrowserSession:
        cookie = generate_token(COOKIE_VALUE_LENGTH)
        session = BrowserSession(
            key=digest(cookie),
            csrf_token=generate_token(CSRF_TOKEN_LENGTH),
            username=username,
            expires_at=now() + ttl,
            data=dict(data or {}),
            cookie=cookie,
        )
        async with self.registry.transaction() as conn:
            await conn.execute(
                insert(sessions).values(
                    session_key=session.key,
                    realm=self.realm.name,
                    username=session.username,
                    csrf_token=session.csrf_token,
                    data=_dump(session.data),
                    expires_at=session.expires_at,
                )
            )
        return session

    async def save(self, session: BrowserSession) -> None:
        async with self.registry.transaction() as conn:
            await conn.execute(
                update(sessions).where(self._this(session.key)).values(data=_dump(session.data))
            )

    async def rotate(
        self, old: BrowserSession, *, username: str, data: dict[str, Any] | None = None
    ) -> BrowserSession:
        """Log in: a new id and CSRF token (against session fixation); the old one dies."""
        new = await self.create(username=username, data=old.data | (data or {}), ttl=LOGIN_TTL)
        await self.delete(old)
        return new

    async def delete(self, session: BrowserSession) -> None:
        async with self.registry.transaction() as conn:
            await conn.execute(delete(sessions).where(self._this(session.key)))

    def set_cookie(self, response: Response, session: BrowserSession) -> Response:
        """Send a newly issued session's cookie; an existing session's is already there."""
        if session.cookie is not None:
            set_page_cookie(
                response, self.realm, self.cookie_name, session.cookie, session.ttl, self.secure
            )
        return response

    def clear_cookie(self, response: Response) -> Response:
        return clear_page_cookie(response, self.realm, self.cookie_name, self.secure)


def set_page_cookie(
    response: Response, realm: Realm, name: str, value: str, max_age: int, secure: bool
) -> Response:
    """A cookie of a realm's pages: HttpOnly, SameSite=Lax, Secure under https."""
    response.set_cookie(
        name, value, max_age=max_age, path=realm.path, secure=secure, httponly=True, samesite="lax"
    )
    return response


def clear_page_cookie(response: Response, realm: Realm, name: str, secure: bool) -> Response:
    response.delete_cookie(name, path=realm.path, secure=secure, httponly=True, samesite="lax")
    return response


async def purge_sessions(registry: Registry, before: int) -> int:
    """Remove the sessions of every realm that expired before `before`."""
    async with registry.transaction() as conn:
        result = await conn.execute(delete(sessions).where(sessions.c.expires_at < before))
    return int(result.rowcount or 0)


def _dump(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"))
