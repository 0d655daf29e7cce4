"""Real-time service usage: Prometheus metrics and the manager's rolling window.

Every request to a service context (an OAuth endpoint or grant, a gateway route's `service`)
becomes a `Transaction`. When it ends, `Monitor` counts it per service and client (the client
is the request attribute `[monitoring] client_attribute`) into plain numbers (counts.py),
which a Prometheus collector (prometheus.py) publishes at scrape time and the manager's
rolling window reads, and hands it to the traffic log. With `serve --workers N` both show the
sum over every worker (shared_counts.py). Flows never import this: it subscribes to their
events.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from authgate.config import Settings
from authgate.events import Events
from authgate.monitoring.counts import Counts
from authgate.monitoring.shared_counts import SharedCounts
from authgate.monitoring.transactions import ANONYMOUS, Transaction

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

OTHER = "other"  # clients beyond `max_clients`


class Monitor:
    """Per-application metrics (its own Prometheus registry: no module globals)."""

    def __init__(
        self,
        settings: Settings,
        events: Events | None = None,
        shared_directory: Path | None = None,
    ) -> None:
        self.settings = settings.monitoring
        self.routes = settings.gateway.routes
        self.counts = Counts()
        # With several workers: their files in the directory `serve` made for the run.
        self.shared = SharedCounts(shared_directory, self.counts) if shared_directory else None
        self.in_flight = 0  # transactions begun but not yet handed to finish()
        self.idle = asyncio.Event()  # set while in_flight is 0
        self.idle.set()
        self.traffic: Any = None  # authgate.traffic.TrafficLog, attached when it runs
        self._clients: set[str] = set()
        if events is not None:
            events.subscribe(self.on_event)

    @cached_property
    def registry(self) -> CollectorRegistry:
        """The Prometheus registry of `total()`, made at the first scrape."""
        from authgate.monitoring import prometheus  # not at start: see prometheus.py

        return prometheus.counts_registry(self.total)

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    def on_event(self, name: str, fields: Mapping[str, Any]) -> None:
        self.counts.event(name[:64])  # event names are the code's own: a bounded set

    def total(self) -> Counts:
        """What every worker counted (this process alone when it is the only one)."""
        return self.shared.total() if self.shared is not None else self.counts

    def snapshot(self, now: float) -> dict[str, Any]:
        """The rolling window over every worker, for the manager."""
        return self.total().window.snapshot(now)

    def client_label(self, client: str) -> str:
        """Bound the label cardinality: the first `max_clients` clients, then "other"."""
        client = client[:200] or ANONYMOUS
        if client in self._clients or client == ANONYMOUS:
            return client
        if len(self._clients) >= self.settings.max_clients:
            return OTHER
        self._clients.add(client)
        return client

    async def settle(self) -> None:
        """Wait until every request under way is finished and its record written (tests)."""
        await self.idle.wait()
        if self.traffic is not None:
            await self.traffic.flush()

    def finish(self, transaction: Transaction) -> None:
        client = self.client_label(transaction.client)
        transaction.client = client
        duration, when = transaction.duration, transaction.started_at
        self.counts.count(transaction.service, client, transaction.passed, duration, when)
        if transaction.composite:
            passed = transaction.composite_passed
            self.counts.count(transaction.composite, client, passed, duration, when)
        if self.traffic is not None:
            self.traffic.submit(transaction)

    def metrics(self) -> bytes:
        from authgate.monitoring import prometheus  # loaded by self.registry already

        return prometheus.exposition(self.registry)
