"""Server-side browser sessions of the login and consent pages (the `sessions` table).

The cookie holds a random value; the table keeps only its digest, so a copy of the database
cannot be replayed as a session. Each session carries its own CSRF token (synchronizer token
pattern) and, in `data`, the authorization requests waiting for login or consent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, insert, select, update

from authgate.db.schema import sessions
from authgate.registry import Registry
from authgate.tokens import digest, generate_token, now

COOKIE_VALUE_LENGTH = 43  # 43 characters of 62 symbols: 256 bits
CSRF_TOKEN_LENGTH = 43
ANONYMOUS_TTL = 30 * 60  # seconds a browser has to log in
LOGIN_TTL = 8 * 3600  # seconds a login is remembered (the login session)


@dataclass(slots=True)
class BrowserSession:
    key: str  # digest of the cookie value
    csrf_token: str
    username: str | None
    expires_at: int
    data: dict[str, Any] = field(default_factory=dict)
    cookie: str | None = None  # the raw value, only right after it was issued

    @property
    def ttl(self) -> int:
        return max(1, self.expires_at - now())


class SessionStore:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    async def load(self, cookie: str | None) -> BrowserSession | None:
        if not cookie or len(cookie) > 128:
            return None
        key = digest(cookie)
        async with self.registry.transaction() as conn:
            row = (
                await conn.execute(select(sessions).where(sessions.c.session_key == key))
            ).first()
        if row is None or row.expires_at <= now():
            return None
        return BrowserSession(
            key=key,
            csrf_token=row.csrf_token,
            username=row.username,
            expires_at=row.expires_at,
            data=json.loads(row.data),
        )

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
                    username=session.username,
                    csrf_token=session.csrf_token,
                    data=json.dumps(session.data, separators=(",", ":")),
                    expires_at=session.expires_at,
                )
            )
        return session

    async def save(self, session: BrowserSession) -> None:
        async with self.registry.transaction() as conn:
            await conn.execute(
                update(sessions)
                .where(sessions.c.session_key == session.key)
                .values(data=json.dumps(session.data, separators=(",", ":")))
            )

    async def rotate(self, old: BrowserSession, *, username: str, subject: str) -> BrowserSession:
        """Log in: a new id and CSRF token (against session fixation); the old one dies."""
        data = dict(old.data) | {"subject": subject}
        new = await self.create(username=username, data=data, ttl=LOGIN_TTL)
        await self.delete(old)
        return new

    async def delete(self, session: BrowserSession) -> None:
        async with self.registry.transaction() as conn:
            await conn.execute(delete(sessions).where(sessions.c.session_key == session.key))

    async def purge(self, before: int) -> int:
        async with self.registry.transaction() as conn:
            result = await conn.execute(delete(sessions).where(sessions.c.expires_at < before))
        return int(result.rowcount or 0)
