from __future__ import annotations

import time

import pytest

from authgate.config import Settings
from authgate.monitoring.counts import Window
from authgate.monitoring.metrics import Monitor
from authgate.monitoring.traffic import TrafficLog
from authgate.monitoring.transactions import Transaction, clean_target


def settings(**monitoring: object) -> Settings:
    return Settings.model_validate({"monitoring": monitoring})


def test_client_labels_are_bounded():
    monitor = Monitor(settings(max_clients=2))
    assert [monitor.client_label(c) for c in ("a", "b", "c", "a", "")] == [
        "a",
        "b",
        "other",
        "a",
        "anonymous",
    ]


def test_window_drops_old_buckets_and_sums_per_service_and_client():
    window = Window(bucket_seconds=10, buckets=3)
    window.add("photos", "alice", True, 0.1, when=100)
    window.add("photos", "alice", False, 0.3, when=125)
    window.add("photos", "bob", True, 0.2, when=129)
    snap = window.snapshot(now=129)
    (photos,) = snap["services"]
    assert (photos["requests"], photos["failures"]) == (3, 1)
    assert snap["series"]["photos"] == [1, 0, 2]
    later = window.snapshot(now=141)
    assert later["services"][0]["requests"] == 2
    assert {c["client"] for c in later["clients"]} == {"alice", "bob"}


def test_composite_fails_when_any_part_fails():
    tx = Transaction("photos", "media", "GET", "/api/photos", record_outbound=True)
    tx.status = 200
    tx.mark("token", passed=True)
    assert tx.composite_passed
    tx.mark("policy", passed=False)
    assert tx.passed and not tx.composite_passed


def test_outbound_targets_lose_credentials_and_query():
    assert (
        clean_target("https://user:pw@api.example:8443/v1/x?key=s#f")
        == "https://api.example:8443/v1/x"
    )
    tx = Transaction("s", "", "GET", "/", record_outbound=False)
    tx.add_outbound("http", "GET", "http://h/x", 200, 0.01, None)
    assert tx.outbound == []


@pytest.mark.anyio
async def test_full_queue_drops_and_counts_without_blocking():
    monitor = Monitor(settings(queue_size=2))
    # No engine: the queue overflows before any row is written.
    log = TrafficLog(None, monitor.settings, monitor)  # type: ignore[arg-type]
    for _ in range(5):
        log.submit(Transaction("s", "", "GET", "/", record_outbound=True))
    value = monitor.registry.get_sample_value("authgate_traffic_dropped_total")
    assert (log.dropped, value) == (3, 3.0)


def finished(monitor: Monitor, service: str, client: str, status: int, seconds: float) -> None:
    tx = Transaction(service, "", "GET", "/", record_outbound=False)
    tx.client, tx.status, tx.duration = client, status, seconds
    monitor.finish(tx)


def test_scrape_publishes_the_plain_counts_as_prometheus_families():
    monitor = Monitor(settings())
    finished(monitor, "photos", "alice", 200, 0.004)
    finished(monitor, "photos", "alice", 502, 0.3)
    finished(monitor, "photos", "bob", 200, 0.02)
    monitor.on_event("token.issued", {})
    sample = monitor.registry.get_sample_value
    requests = "authgate_service_requests_total"
    assert sample(requests, {"service": "photos", "client": "alice", "outcome": "success"}) == 1
    assert sample(requests, {"service": "photos", "client": "alice", "outcome": "failure"}) == 1
    assert sample(requests, {"service": "photos", "client": "bob", "outcome": "success"}) == 1
    latency = "authgate_service_request_duration_seconds"
    assert sample(f"{latency}_count", {"service": "photos", "client": "alice"}) == 2
    assert sample(f"{latency}_sum", {"service": "photos", "client": "alice"}) == pytest.approx(
        0.304
    )
    buckets = "authgate_service_latency_seconds_bucket"
    assert sample(buckets, {"service": "photos", "le": "0.005"}) == 1
    assert sample(buckets, {"service": "photos", "le": "0.025"}) == 2
    assert sample(buckets, {"service": "photos", "le": "0.25"}) == 2
    assert sample(buckets, {"service": "photos", "le": "0.5"}) == 3
    assert sample(buckets, {"service": "photos", "le": "+Inf"}) == 3
    assert sample("authgate_events_total", {"event": "token.issued"}) == 1
    text = monitor.metrics().decode()
    assert 'authgate_service_latency_seconds_bucket{le="10.0",service="photos"} 3.0' in text


def test_two_workers_sharing_a_directory_each_scrape_the_sum(tmp_path):
    """`serve --workers 2`: whichever worker answers the scrape shows both workers' counts."""
    first = Monitor(settings(), shared_directory=tmp_path)
    second = Monitor(settings(), shared_directory=tmp_path)
    for _ in range(3):
        finished(first, "photos", "alice", 200, 0.01)
    finished(second, "photos", "alice", 200, 0.01)
    finished(second, "photos", "bob", 403, 0.01)
    first.counts.traffic_dropped += 2
    assert second.shared is not None
    second.shared.publish()  # what its task does every second
    requests = "authgate_service_requests_total"
    alice = {"service": "photos", "client": "alice", "outcome": "success"}
    bob = {"service": "photos", "client": "bob", "outcome": "failure"}
    for scraped in (first, second):
        assert scraped.registry.get_sample_value(requests, alice) == 4
        assert scraped.registry.get_sample_value(requests, bob) == 1
        assert scraped.registry.get_sample_value("authgate_traffic_dropped_total") == 2
        window = scraped.snapshot(time.time())
        (photos,) = window["services"]
        assert (photos["requests"], photos["failures"]) == (5, 1)
    # A worker's own counts are live in its scrape; the other's are its last published ones.
    finished(first, "photos", "alice", 200, 0.01)
    assert first.registry.get_sample_value(requests, alice) == 5
