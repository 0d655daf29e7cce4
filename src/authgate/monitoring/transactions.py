"""Transactions: one request to a service context, and the outbound calls it made.

Code that calls out (the gateway's upstream, the LDAP directory, policies) wraps the call in
`outbound_call` so the traffic monitor can show it; token store calls are not recorded: they
are on every request, and the store is part of authgate. This module imports neither
Prometheus nor the web framework, so flows, users and policies may use it.
"""

from __future__ import annotations

import contextlib
import itertools
import secrets
import time
from collections.abc import AsyncIterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

ANONYMOUS = "anonymous"  # no client attribute was set (the request failed before that)
MAX_OUTBOUND = 50  # outbound calls kept per transaction

_current: ContextVar[Transaction | None] = ContextVar("authgate_transaction", default=None)


def current_transaction() -> Transaction | None:
    return _current.get()


class running:  # lower case: used as a function, `with running(transaction):`
    """Make `transaction` the current one for the code inside (and the tasks it starts).

    A class, not a generator-based context manager: it runs on every request, and
    contextlib's generator machinery costs several times more.
    """

    __slots__ = ("token", "transaction")

    def __init__(self, transaction: Transaction) -> None:
        self.transaction = transaction

    def __enter__(self) -> None:
        self.token = _current.set(self.transaction)

    def __exit__(self, *exc_info: object) -> None:
        _current.reset(self.token)


_TX_PREFIX = secrets.token_hex(6)  # this process
_tx_numbers = itertools.count(time.time_ns() // 1000)


def _next_tx_id() -> str:
    """Unique across processes (random prefix) and rising within one, so the traffic table's
    key grows at its end instead of at random places; no secret: only administrators see it."""
    return f"{_TX_PREFIX}{next(_tx_numbers):020x}"


@dataclass(frozen=True, slots=True)
class OutboundCall:
    kind: str  # "http", "ldap", "policy", "store"
    method: str
    target: str  # scheme://host[:port]/path: no credentials, no query
    status: int | None
    duration: float  # seconds
    error: str | None  # exception class name only: messages may quote secrets
    offset: float  # seconds after the transaction started


@dataclass(slots=True)
class Transaction:
    """One request to a service context, as the traffic monitor records it."""

    service: str
    composite: str
    method: str
    path: str  # never the query string
    record_outbound: bool
    tx_id: str = field(default_factory=_next_tx_id)
    started_at: float = field(default_factory=time.time)
    started: float = field(default_factory=time.perf_counter)
    client: str = ANONYMOUS
    # A gateway call: the client and the user of the access token that passed.
    token_client_id: str | None = None
    token_username: str | None = None
    status: int = 500
    duration: float = 0.0
    parts: list[tuple[str, bool]] = field(default_factory=list)
    outbound: list[OutboundCall] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.status < 400

    def mark(self, part: str, *, passed: bool) -> None:
        """A service context this transaction went through, and whether it passed."""
        self.parts.append((part, passed))

    @property
    def composite_passed(self) -> bool:
        """A composite context passes only if every part and the whole passed."""
        return self.passed and all(ok for _, ok in self.parts)

    def add_outbound(
        self,
        kind: str,
        method: str,
        target: str,
        status: int | None,
        duration: float,
        error: str | None,
        *,
        is_clean: bool = False,
    ) -> None:
        """`is_clean`: the caller already made `target` what `clean_target` would."""
        if not self.record_outbound or len(self.outbound) >= MAX_OUTBOUND:
            return
        offset = time.perf_counter() - self.started - duration
        if not is_clean:
            target = clean_target(target)
        self.outbound.append(
            OutboundCall(kind, method, target, status, duration, error, max(0.0, offset))
        )


def clean_target(target: str) -> str:
    """A URL without user info, query or fragment: what is safe to keep in the log."""
    parts = urlsplit(target)
    if not parts.scheme:
        return target.split("?", 1)[0][:500]
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))[:500]


@contextlib.asynccontextmanager
async def outbound_call(kind: str, target: str, method: str = "") -> AsyncIterator[None]:
    """Time a call to a dependency (LDAP, a policy, a store) for the traffic monitor."""
    transaction = current_transaction()
    started = time.perf_counter()
    error: str | None = None
    try:
        yield
    except BaseException as exc:
        error = type(exc).__name__
        raise
    finally:
        if transaction is not None:
            transaction.add_outbound(
                kind, method, target, None, time.perf_counter() - started, error
            )
