from __future__ import annotations

import pytest

from authgate.config import Settings
from authgate.monitoring.metrics import Monitor, Window
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
