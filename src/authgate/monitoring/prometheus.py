"""/metrics: the counts (counts.py) as Prometheus families, built when a scrape asks.

Only `Monitor.registry` and the `/metrics` endpoint import this module, at the first scrape:
prometheus_client costs each worker about 1.3 MB, which a server nobody scrapes need not pay.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    HistogramMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from authgate.monitoring.counts import LATENCY_BUCKETS, Counts

CONTENT_TYPE = CONTENT_TYPE_LATEST
_BOUNDS = [*(floatToGoString(b) for b in LATENCY_BUCKETS), "+Inf"]  # type: ignore[no-untyped-call]


class CountsCollector(Collector):
    """The counts as Prometheus families, built when a scrape asks, not on each request."""

    def __init__(self, read: Callable[[], Counts]) -> None:
        self.read = read

    def collect(self) -> Iterator[Metric]:
        counts: Counts = self.read()
        labels = ["service", "client"]
        requests = CounterMetricFamily(
            "authgate_service_requests",
            "Requests per service context, client and outcome",
            labels=[*labels, "outcome"],
        )
        latency = SummaryMetricFamily(
            "authgate_service_request_duration_seconds",
            "Request latency per service and client",
            labels=labels,
        )
        for (service, client), stat in sorted(counts.totals.items()):
            requests.add_metric([service, client, "success"], stat.requests - stat.failures)
            requests.add_metric([service, client, "failure"], stat.failures)
            latency.add_metric([service, client], stat.requests, stat.latency_sum)
        histogram = HistogramMetricFamily(
            "authgate_service_latency_seconds", "Request latency per service", labels=["service"]
        )
        sums: dict[str, float] = {}
        for (service, _), stat in counts.totals.items():
            sums[service] = sums.get(service, 0.0) + stat.latency_sum
        for service, buckets in sorted(counts.histograms.items()):
            cumulative, running = [], 0
            for bound, count in zip(_BOUNDS, buckets, strict=True):
                running += count
                cumulative.append((bound, running))
            histogram.add_metric([service], cumulative, sums.get(service, 0.0))
        events = CounterMetricFamily(
            "authgate_events", "Events emitted by flows and endpoints", labels=["event"]
        )
        for name, count in sorted(counts.events.items()):
            events.add_metric([name], count)
        dropped = CounterMetricFamily(
            "authgate_traffic_dropped",
            "Traffic records dropped (queue full or write failed)",
            value=counts.traffic_dropped,
        )
        yield from (requests, latency, histogram, events, dropped)


def counts_registry(read: Callable[[], Counts]) -> CollectorRegistry:
    """A registry whose one collector publishes what `read()` returns at each scrape."""
    registry = CollectorRegistry()
    registry.register(CountsCollector(read))
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    """The Prometheus text format of `registry`."""
    return generate_latest(registry)
