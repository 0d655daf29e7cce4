"""`users = "ldap"`: search the user under `user_base`, then bind as that entry (AD, OpenLDAP).

ldap3's synchronous strategy runs in worker threads, one connection per thread at a time,
from two small pools: one bound as the service account for searches, one that is rebound
as each user. Any failure to get an answer from the directory is StoreUnavailable (503),
never a yes or no the directory did not give.
"""

from __future__ import annotations

import asyncio
import math
import re
import ssl
import warnings
from collections.abc import Callable, MutableMapping
from typing import Any, TypeVar

from authgate.config import LdapSettings
from authgate.errors import StoreUnavailable
from authgate.models import User
from authgate.monitoring import outbound_call
from authgate.usernames import canonical_or_none

with warnings.catch_warnings():
    # ldap3 2.9 imports names that pyasn1 >= 0.6 deprecates; nothing to act on here.
    warnings.simplefilter("ignore", DeprecationWarning)
    from ldap3 import (
        ANONYMOUS,
        AUTO_BIND_NONE,
        BASE,
        NONE,
        SIMPLE,
        SUBTREE,
        SYNC,
        Connection,
        Server,
        Tls,
    )
    from ldap3.core.exceptions import LDAPBindError, LDAPException, LDAPStartTLSError
    from ldap3.utils.conv import escape_filter_chars

T = TypeVar("T")

# The attribute that `user_filter` compares the login name with: `(uid={username})` -> uid.
_NAME_ATTRIBUTE = re.compile(r"\(\s*([A-Za-z][\w;.-]*)\s*=\s*\{username\}\s*\)")

POOL_SIZE = 4  # connections per pool
NO_ATTRIBUTES = "1.1"  # RFC 4511 section 4.5.1.8: return the DN only
SUCCESS, SIZE_LIMIT_EXCEEDED, NO_SUCH_OBJECT = 0, 4, 32
# Bind answers that are a verdict on the credentials: invalidCredentials,
# inappropriateAuthentication, unwillingToPerform (e.g. a disabled account).
REFUSED = frozenset({48, 49, 53})


class _Pool:
    """Idle connections of one kind; at most `size` in use, each by one thread."""

    def __init__(self, connect: Callable[[], Connection], size: int = POOL_SIZE) -> None:
        self._connect = connect
        self._idle: list[Connection] = []
        self._slots = asyncio.Semaphore(size)

    async def run(self, work: Callable[[Connection], T]) -> T:
        async with self._slots:
            reused = self._idle.pop() if self._idle else None
            try:
                connection, result = await asyncio.to_thread(self._work, reused, work)
            except Exception as exc:  # whatever ldap3 raises, the directory gave no answer
                raise StoreUnavailable("directory", exc) from exc
            self._idle.append(connection)
            return result

    def _work(
        self, connection: Connection | None, work: Callable[[Connection], T]
    ) -> tuple[Connection, T]:
        if connection is not None and connection.closed:
            _close(connection)
            connection = None
        if connection is not None:
            try:
                return connection, work(connection)
            except LDAPException:
                _close(connection)  # an idle connection may have gone stale: one fresh try
        connection = self._connect()
        try:
            return connection, work(connection)
        except BaseException:
            _close(connection)
            raise

    def close(self) -> None:
        while self._idle:
            _close(self._idle.pop())


def _close(connection: Connection) -> None:
    try:
        connection.unbind()
    except Exception:  # noqa: S110 - closing a broken connection: nothing left to do
        pass
    # ldap3 keeps the socket of a failed open or StartTLS without closing it.
    sock = getattr(connection, "socket", None)
    if sock is not None:
        sock.close()


class LdapUsers:
    """Searches by the canonical name; reports the name the directory stores."""

    def __init__(self, settings: LdapSettings) -> None:
        self.settings = settings
        named = _NAME_ATTRIBUTE.search(settings.user_filter)
        self._name_attribute = named.group(1) if named else None
        self._searches = _Pool(lambda: self._open(as_service=True))
        self._binds = _Pool(lambda: self._open(as_service=False))

    async def authenticate(
        self,
        username: str,
        password: str,
        *,
        client_id: str,
        attributes: MutableMapping[str, Any],
        scopes: tuple[str, ...] = (),
    ) -> User | None:
        # RFC 4513 section 5.1.2: an empty password is an unauthenticated bind, which
        # many directories answer with success.
        if not username or not password:
            return None
        url = self.settings.url
        async with outbound_call("ldap", url, "search"):
            found = await self._searches.run(lambda conn: self._find(conn, username))
        if found is None:
            return None
        dn, stored_name = found
        async with outbound_call("ldap", url, "bind"):
            bound = await self._binds.run(lambda conn: _bind(conn, dn, password))
        if not bound:
            return None
        return User(username=stored_name, subject=stored_name)

    async def ping(self) -> None:
        await self._searches.run(self._ping)

    async def close(self) -> None:
        self._searches.close()
        self._binds.close()

    def _server(self) -> Server:
        # A fresh Server each time: ldap3 remembers an address that failed as unusable for
        # minutes, which would stretch a directory restart into a long outage.
        settings = self.settings
        use_ssl = settings.url.lower().startswith("ldaps://")
        tls = Tls(validate=ssl.CERT_REQUIRED) if use_ssl or settings.start_tls else None
        return Server(
            settings.url, use_ssl=use_ssl, tls=tls, connect_timeout=settings.timeout, get_info=NONE
        )

    def _open(self, *, as_service: bool) -> Connection:
        settings = self.settings
        server = self._server()
        service = as_service and bool(settings.bind_dn)
        connection = Connection(
            server,
            user=settings.bind_dn if service else None,
            password=settings.bind_password.get_secret_value() if service else None,
            authentication=SIMPLE if service else ANONYMOUS,
            client_strategy=SYNC,
            receive_timeout=math.ceil(settings.timeout),  # ldap3 packs it as an integer
            read_only=True,
            raise_exceptions=False,
            auto_bind=AUTO_BIND_NONE,
        )
        try:
            connection.open(read_server_info=False)
            if settings.start_tls and not server.ssl:
                if not connection.start_tls(read_server_info=False):
                    raise LDAPStartTLSError(f"StartTLS refused: {connection.result}")
            if service and not connection.bind(read_server_info=False):
                # The service account is refused: a configuration fault, not a verdict.
                raise LDAPBindError(f"service bind refused: {connection.result}")
        except BaseException:
            _close(connection)
            raise
        return connection

    def _find(self, connection: Connection, username: str) -> tuple[str, str] | None:
        """The one entry that the filter finds for `username`: its DN and the login name as
        the directory stores it (the filter's attribute), or None."""
        query = self.settings.user_filter.replace("{username}", escape_filter_chars(username))
        connection.search(
            self.settings.user_base,
            query,
            search_scope=SUBTREE,
            attributes=[self._name_attribute] if self._name_attribute else NO_ATTRIBUTES,
            size_limit=2,
            time_limit=math.ceil(self.settings.timeout),
        )
        code = connection.result.get("result") if connection.result else None
        if code in (NO_SUCH_OBJECT, SIZE_LIMIT_EXCEEDED):
            return None  # no base, or an ambiguous name: nobody to bind as
        if code != SUCCESS:
            raise LDAPException(f"search failed: {connection.result}")
        found = [
            entry for entry in connection.response or () if entry.get("type") == "searchResEntry"
        ]
        if len(found) != 1:
            return None
        dn: str = found[0]["dn"]
        return dn, self._stored_name(found[0], username)

    def _stored_name(self, entry: dict[str, Any], username: str) -> str:
        """The value of the name attribute that the canonical `username` matched."""
        found = entry.get("attributes", {}).get(self._name_attribute or "", [])
        values = [found] if isinstance(found, str) else [str(value) for value in found]
        matching = [value for value in values if canonical_or_none(value) == username]
        return (matching or values or [username])[0]

    def _ping(self, connection: Connection) -> None:
        connection.search(
            self.settings.user_base,
            "(objectClass=*)",
            search_scope=BASE,
            attributes=NO_ATTRIBUTES,
            size_limit=1,
        )
        code = connection.result.get("result") if connection.result else None
        if code not in (SUCCESS, NO_SUCH_OBJECT):
            raise LDAPException(f"directory answered {connection.result}")


def _bind(connection: Connection, dn: str, password: str) -> bool:
    if connection.rebind(user=dn, password=password, authentication=SIMPLE, read_server_info=False):
        return True
    code = connection.result.get("result") if connection.result else None
    if code in REFUSED:
        return False
    raise LDAPException(f"bind failed: {connection.result}")
