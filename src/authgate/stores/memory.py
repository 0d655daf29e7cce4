"""`memory://`: an in-process store with TTL and a size bound, for tests and one process."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import replace

from authgate.models import TokenRecord
from authgate.stores.base import Entry

DEFAULT_MAX_ENTRIES = 1_000_000


class MemoryStore:
    """Single-threaded asyncio makes each method atomic: none of them awaits midway."""

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._records: OrderedDict[str, TokenRecord] = OrderedDict()
        self._grants: dict[str, set[str]] = {}

    def _live(self, key: str) -> TokenRecord | None:
        record = self._records.get(key)
        if record is not None and record.is_expired(time.time()):
            self._remove(key)
            return None
        return record

    def _remove(self, key: str) -> None:
        record = self._records.pop(key, None)
        if record is not None:
            family = self._grants.get(record.grant_id)
            if family is not None:
                family.discard(key)
                if not family:
                    del self._grants[record.grant_id]

    def _insert(self, entries: Sequence[Entry]) -> None:
        for key, record in entries:
            self._records[key] = record
            self._grants.setdefault(record.grant_id, set()).add(key)
        while len(self._records) > self.max_entries:
            # The size bound drops the oldest record first: it is the nearest to expiry.
            self._remove(next(iter(self._records)))

    async def put(self, entries: Sequence[Entry]) -> None:
        self._insert(entries)

    async def get(self, key: str) -> TokenRecord | None:
        return self._live(key)

    async def exchange(
        self, key: str, entries: Sequence[Entry], *, successor: str | None = None
    ) -> bool:
        record = self._live(key)
        if record is None or record.consumed:
            return False
        self._records[key] = replace(record, consumed=True, successor=successor)
        self._insert(entries)
        return True

    async def delete(self, key: str) -> None:
        self._remove(key)

    async def revoke_grant(self, grant_id: str) -> int:
        keys = list(self._grants.get(grant_id, ()))
        for key in keys:
            self._remove(key)
        return len(keys)

    async def revoke_client(self, client_id: str) -> int:
        keys = [k for k, r in self._records.items() if r.client_id == client_id]
        for key in keys:
            self._remove(key)
        return len(keys)

    async def revoke_user(self, username: str, client_id: str | None = None) -> int:
        keys = [
            k
            for k, r in self._records.items()
            if r.username == username and client_id in (None, r.client_id)
        ]
        for key in keys:
            self._remove(key)
        return len(keys)

    async def purge(self, now: int) -> int:
        keys = [k for k, r in self._records.items() if r.expires_at <= now]
        for key in keys:
            self._remove(key)
        return len(keys)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._records.clear()
        self._grants.clear()
