"""What monitoring counts, as plain numbers: per (service, client) totals, a latency histogram
per service, events, dropped traffic rows, and the manager's rolling window.

A request adds to a few integers and floats here; nothing is formatted or locked until a
scrape or the manager asks (metrics.py turns these into Prometheus families then). The
numbers travel as JSON between the worker processes of `serve --workers N`
(shared_counts.py), so every worker's scrape can show the sum.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any

# Prometheus' default histogram buckets (seconds); +Inf is the total count.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)


@dataclass(slots=True)
class Stat:
    requests: int = 0
    failures: int = 0
    latency_sum: float = 0.0
    latency_max: float = 0.0

    def add(self, passed: bool, duration: float) -> None:
        self.requests += 1
        if not passed:
            self.failures += 1
        self.latency_sum += duration
        if duration > self.latency_max:
            self.latency_max = duration

    def merge(self, other: Stat) -> None:
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

    def to_list(self) -> list[float | int]:
        return [self.requests, self.failures, self.latency_sum, self.latency_max]

    @classmethod
    def from_list(cls, values: list[Any]) -> Stat:
        requests, failures, latency_sum, latency_max = values
        return cls(int(requests), int(failures), float(latency_sum), float(latency_max))


StatTable = dict[tuple[str, str], Stat]


def _table_to_json(table: StatTable) -> list[list[Any]]:
    return [[service, client, *stat.to_list()] for (service, client), stat in table.items()]


def _merge_table(into: StatTable, rows: list[list[Any]]) -> None:
    for service, client, *values in rows:
        stat = Stat.from_list(values)
        existing = into.get((service, client))
        if existing is None:
            into[(service, client)] = stat
        else:
            existing.merge(stat)


class Window:
    """Counts per (service, client) in fixed buckets: the last `buckets * bucket_seconds`."""

    def __init__(self, bucket_seconds: int = 10, buckets: int = 90) -> None:
        self.bucket_seconds = bucket_seconds
        self.buckets = buckets
        self._data: dict[int, StatTable] = {}

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
            stat = bucket[(service, client)] = Stat()
        stat.add(passed, duration)

    def to_json(self) -> dict[str, Any]:
        return {str(index): _table_to_json(bucket) for index, bucket in self._data.items()}

    def merge_json(self, data: dict[str, Any]) -> None:
        for index, rows in data.items():
            _merge_table(self._data.setdefault(int(index), {}), rows)

    def snapshot(self, now: float) -> dict[str, Any]:
        last = int(now // self.bucket_seconds)
        first = last - self.buckets + 1
        services: dict[str, Stat] = {}
        clients: StatTable = {}
        series: dict[str, list[int]] = {}
        for index, bucket in self._data.items():
            if index < first or index > last:
                continue
            for (service, client), stat in bucket.items():
                services.setdefault(service, Stat()).merge(stat)
                clients.setdefault((service, client), Stat()).merge(stat)
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


class Counts:
    """Everything one process counted since it started (or the sum over several)."""

    def __init__(self) -> None:
        self.totals: StatTable = {}
        # per service: the count of each bucket (not cumulative), then +Inf's own
        self.histograms: dict[str, list[int]] = {}
        self.events: dict[str, int] = {}
        self.traffic_dropped = 0
        self.window = Window()

    def count(self, service: str, client: str, passed: bool, duration: float, when: float) -> None:
        stat = self.totals.get((service, client))
        if stat is None:
            stat = self.totals[(service, client)] = Stat()
        stat.add(passed, duration)
        buckets = self.histograms.get(service)
        if buckets is None:
            buckets = self.histograms[service] = [0] * (len(LATENCY_BUCKETS) + 1)
        buckets[bisect.bisect_left(LATENCY_BUCKETS, duration)] += 1
        self.window.add(service, client, passed, duration, when)

    def event(self, name: str) -> None:
        self.events[name] = self.events.get(name, 0) + 1

    def to_json(self) -> dict[str, Any]:
        return {
            "totals": _table_to_json(self.totals),
            "histograms": self.histograms,
            "events": self.events,
            "traffic_dropped": self.traffic_dropped,
            "window": self.window.to_json(),
        }

    def merge_json(self, data: dict[str, Any]) -> None:
        """Add another process's counts (as `to_json` wrote them) to these."""
        _merge_table(self.totals, data["totals"])
        for service, buckets in data["histograms"].items():
            mine = self.histograms.setdefault(service, [0] * len(buckets))
            for index, count in enumerate(buckets):
                mine[index] += int(count)
        for name, count in data["events"].items():
            self.events[name] = self.events.get(name, 0) + int(count)
        self.traffic_dropped += int(data["traffic_dropped"])
        self.window.merge_json(data["window"])
