"""Real-time service usage: Prometheus metrics and the manager's rolling window.

Every request to a service context (an OAuth endpoint or grant, a gateway route's `service`)
becomes a `Transaction`. When it ends, `Monitor` counts it per service and client (the client
is the request attribute `[monitoring] client_attribute`), in Prometheus and in a 15-minute
rolling window for the manager, and hands it to the traffic log. Flows never import this:
it subscribes to their events.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, Summary, generate_latest

from authgate.config import Settings
from authgate.events import Events
from authgate.monitoring.transactions import ANONYMOUS, Transaction

OTHER = "other"  # clients beyond `max_clients`


@dataclass(slots=True)
class _Stat:
    requests: int = 0
    failures: int = 0
    latency_sum: float = 0.0
    latency_max: float = 0.0

    def add(self, passed: bool, duration: float) -> None:
        self.requests += 1
        self.failures += 0 if passed else 1
        self.latency_sum += duration
        self.latency_max = max(self.latency_max, duration)

    def merge(self, other: _Stat) -> None:
        self.requests += other.requests
        self.failures += other.failures
        self.latency_sum += other.latency_sum
        self.latency_max = max(self.latency_max, other.latency_max)

    def as_dict(self) -> dict[str, float | int]:
        return {
            "requests": self.requests,
            "successes": self.requests - self.failures,
            "failures": self.failures,
            "error_rate": self.failures / self.requests if self.requests else 0.0,
            "latency_avg_ms": 1000 * self.latency_sum / self.requests if self.requests else 0.0,
            "latency_max_ms": 1000 * self.latency_max,
        }


class Window:
    """Counts per (service, client) in fixed buckets: the last `buckets * bucket_seconds`."""

    def __init__(self, bucket_seconds: int = 10, buckets: int = 90) -> None:
        self.bucket_seconds = bucket_seconds
        self.buckets = buckets
        self._data: dict[int, dict[tuple[str, str], _Stat]] = {}

    def add(self, service: str, client: str, passed: bool, duration: float, when: float) -> None:
        index = int(when // self.bucket_seconds)
        bucket = self._data.get(index)
        if bucket is None:
            bucket = self._data[index] = {}
            oldest = index - self.buckets + 1  # a new bucket: drop the ones out of the window
            for stale in [i for i in self._data if i < oldest]:
                del self._data[stale]
        stat = bucket.get((service, client))
        if stat is None:
            stat = bucket[(service, client)] = _Stat()
        stat.add(passed, duration)

    def snapshot(self, now: float) -> dict[str, Any]:
        last = int(now // self.bucket_seconds)
        first = last - self.buckets + 1
        services: dict[str, _Stat] = {}
        clients: dict[tuple[str, str], _Stat] = {}
        series: dict[str, list[int]] = {}
        for index, bucket in self._data.items():
            if index < first:
                continue
            for (service, client), stat in bucket.items():
                services.setdefault(service, _Stat()).merge(stat)
                clients.setdefault((service, client), _Stat()).merge(stat)
                counts = series.setdefault(service, [0] * self.buckets)
                counts[index - first] += stat.requests
        return {
            "now": now,
            "bucket_seconds": self.bucket_seconds,
            "window_seconds": self.bucket_seconds * self.buckets,
            "services": [
                {"service": name} | stat.as_dict() for name, stat in sorted(services.items())
            ],
            "clients": [
                {"service": service, "client": client} | stat.as_dict()
                for (service, client), stat in sorted(clients.items())
            ],
            "series": series,
        }


class Monitor:
    """Per-application metrics (its own Prometheus registry: no module globals)."""

    def __init__(self, settings: Settings, events: Events | None = None) -> None:
        self.settings = settings.monitoring
        self.routes = settings.gateway.routes
        self.registry = CollectorRegistry(auto_describe=True)
        self.window = Window()
        self.in_flight = 0  # transactions begun but not yet handed to finish()
        self.idle = asyncio.Event()  # set while in_flight is 0
        self.idle.set()
        self.traffic: Any = None  # authgate.traffic.TrafficLog, attached when it runs
        self._clients: set[str] = set()
        # The labelled children of each (service, client): labels() takes a lock and builds a
        # key on every call, and this runs for every request.
        self._children: dict[tuple[str, str], tuple[Any, Any, Any, Any]] = {}
        self._event_counters: dict[str, Any] = {}  # event names are the code's own: bounded
        labels = ("service", "client")
        self.requests = Counter(
            "authgate_service_requests",
            "Requests per service context, client and outcome",
            (*labels, "outcome"),
            registry=self.registry,
        )
        self.latency = Summary(
            "authgate_service_request_duration_seconds",
            "Request latency per service and client",
            labels,
            registry=self.registry,
        )
        self.latency_buckets = Histogram(
            "authgate_service_latency_seconds",
            "Request latency per service",
            ("service",),
            registry=self.registry,
        )
        self.events = Counter(
            "authgate_events",
            "Events emitted by flows and endpoints",
            ("event",),
            registry=self.registry,
        )
        self.traffic_dropped = Counter(
            "authgate_traffic_dropped",
            "Traffic records dropped (queue full or write failed)",
            registry=self.registry,
        )
        if events is not None:
            events.subscribe(self.on_event)

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    def on_event(self, name: str, fields: Mapping[str, Any]) -> None:
        counter = self._event_counters.get(name)
        if counter is None:
            counter = self._event_counters[name] = self.events.labels(event=name[:64])
        counter.inc()

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
        self._count(transaction.service, client, transaction.passed, transaction)
        if transaction.composite:
            self._count(transaction.composite, client, transaction.composite_passed, transaction)
        if self.traffic is not None:
            self.traffic.submit(transaction)

    def _count(self, service: str, client: str, passed: bool, tx: Transaction) -> None:
        children = self._children.get((service, client))
        if children is None:
            children = self._children[(service, client)] = (
                self.requests.labels(service=service, client=client, outcome="success"),
                self.requests.labels(service=service, client=client, outcome="failure"),
                self.latency.labels(service=service, client=client),
                self.latency_buckets.labels(service=service),
            )
        successes, failures, latency, latency_buckets = children
        (successes if passed else failures).inc()
        latency.observe(tx.duration)
        latency_buckets.observe(tx.duration)
        self.window.add(service, client, passed, tx.duration, tx.started_at)

    def metrics(self) -> bytes:
        return generate_latest(self.registry)
