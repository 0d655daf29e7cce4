"""The one store interface for tokens and codes; every backend keeps this contract.

Keys are SHA-256 digests of tokens (authgate.tokens.digest), never the tokens. Each record
carries its own `expires_at`, from which a backend derives a TTL (Redis expires keys itself;
SQL stores purge). A backend that cannot reach its service raises StoreUnavailable, and a
failed call leaves nothing half-written.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Protocol

from authgate.models import TokenRecord

Entry = tuple[str, TokenRecord]  # (key, record)


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
