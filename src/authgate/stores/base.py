"""The one store interface for tokens and codes; every backend keeps this contract.

Keys are SHA-256 digests of tokens (authgate.tokens.digest), never the tokens. Each record
carries its own `expires_at`, from which a backend derives a TTL (Redis expires keys itself;
SQL stores purge). A backend that cannot reach its service raises StoreUnavailable, and a
failed call leaves nothing half-written.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from authgate.models import TokenRecord

Entry = tuple[str, TokenRecord]  # (key, record)


@dataclass(frozen=True, slots=True)
class Redemption:
    """What a `redeem` decision asks for: mark the key consumed and store `entries`, keeping
    `successor` on the consumed record, as `exchange` does."""

    entries: Sequence[Entry]
    successor: str | None = None


# Given the live record (None when missing or expired), raise to refuse it, return None to
# store nothing, or return the Redemption to carry out. Synchronous: it runs inside the
# store's atomic step (on the SQLite worker's thread for `sqlite:///`).
Decide = Callable[[TokenRecord | None], Redemption | None]


@dataclass(frozen=True, slots=True)
class Redeemed:
    """What `redeem` did. `stored`: this caller consumed the key and its entries are stored,
    and `record` is the record as it was. Otherwise nothing was stored, and `record` is the
    record as last seen: consumed (before, or by a caller that won meanwhile), unconsumed
    (the decision stored nothing), or None (missing, expired, or gone meanwhile)."""

    record: TokenRecord | None
    stored: bool


class _Exchanging(Protocol):
    async def get(self, key: str) -> TokenRecord | None: ...

    async def exchange(
        self, key: str, entries: Sequence[Entry], *, successor: str | None = None
    ) -> bool: ...


async def redeem_in_two_steps(store: _Exchanging, key: str, decide: Decide) -> Redeemed:
    """`redeem` as a `get`, the decision, then an `exchange`: for backends where one round
    trip would cost more than it saves. `exchange` keeps the first caller the only winner."""
    record = await store.get(key)
    redemption = decide(record)
    if redemption is None or record is None or record.consumed:
        return Redeemed(record, stored=False)
    if await store.exchange(key, redemption.entries, successor=redemption.successor):
        return Redeemed(record, stored=True)
    return Redeemed(await store.get(key), stored=False)  # another caller won meanwhile


def live_record(data: str, consumed: bool, expires_at: int) -> TokenRecord | None:
    """The record of a stored row (its `data`, `consumed` and `expires_at` columns), or None
    once it has expired: SQL stores keep expired rows until the next purge."""
    if expires_at <= time.time():
        return None
    return TokenRecord.from_json(data, consumed=bool(consumed))


class TokenStore(Protocol):
    async def put(self, entries: Sequence[Entry]) -> None:
        """Store all entries at once, or none of them."""

    async def get(self, key: str) -> TokenRecord | None:
        """The record, with `consumed` set if it was exchanged; None once expired or deleted."""

    async def exchange(
        self, key: str, entries: Sequence[Entry], *, successor: str | None = None
    ) -> bool:
        """Atomically mark `key` consumed and store `entries`: True for the first caller only.

        False (and nothing stored) when the record is missing, expired or already consumed.
        `successor` is kept on the consumed record (refresh grace period).
        """

    async def redeem(self, key: str, decide: Decide) -> Redeemed:
        """`get`, `decide` and `exchange` as one atomic step, where the backend can.

        `decide(record)` gets the live record (None if missing or expired, consumed ones
        too). If it raises, nothing is stored and the error propagates; if it returns a
        Redemption for a live, unconsumed record, the key is consumed and its entries
        stored for the first caller only, as with `exchange`.
        """

    async def delete(self, key: str) -> None:
        """Remove one record; no error if it is absent."""

    async def revoke_grant(self, grant_id: str) -> int:
        """Remove every record of a grant family; returns how many."""

    async def revoke_client(self, client_id: str) -> int:
        """Remove every record issued to a client; returns how many."""

    async def revoke_user(self, username: str, client_id: str | None = None) -> int:
        """Remove every record of a user (`TokenRecord.username`), of one client only when
        `client_id` is given; returns how many."""

    async def purge(self, now: int) -> int:
        """Remove records that expired before `now` (bounded batches); returns how many."""

    async def ping(self) -> None:
        """Raise StoreUnavailable unless the backend answers."""

    async def close(self) -> None:
        """Release connections."""
