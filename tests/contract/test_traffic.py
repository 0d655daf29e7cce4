"""The traffic log on every registry database: SQLite through its worker thread, PostgreSQL
and MariaDB through SQLAlchemy. What is written is read back, outbound calls included."""

from __future__ import annotations

import pytest

from authgate.config import Settings
from authgate.monitoring import Transaction
from authgate.monitoring.metrics import Monitor
from authgate.monitoring.traffic import TrafficFilter, TrafficLog
from authgate.services import Services
from tests.backends import fresh_database as fresh_database  # a fixture, asked for by name

pytestmark = pytest.mark.anyio


def transaction(client: str, status: int, *, calls: int = 0) -> Transaction:
    tx = Transaction("photos", "", "GET", "/api/photos", record_outbound=True)
    tx.client, tx.status, tx.duration = client, status, 0.0123
    for seq in range(calls):
        tx.add_outbound(
            "http",
            "GET",
            f"http://u:p@upstream:8080/p{seq}?q=1",
            200,
            0.004,
            None if seq == 0 else "ReadError",
        )
    return tx


async def test_written_rows_are_read_back_with_their_outbound_calls(fresh_database: str) -> None:
    settings = Settings.model_validate({"storage": {"url": fresh_database}})
    services = await Services.open(settings)
    await services.migrate()
    monitor = Monitor(settings, services.events)
    log = TrafficLog(
        services.registry.engine, settings.monitoring, monitor, sqlite=services.registry.sqlite
    )
    log.start()
    try:
        sent = [
            transaction("alice", 200, calls=2),
            transaction("bob", 502),
            transaction("alice", 404),
        ]
        for tx in sent:
            log.submit(tx)
        await log.flush()
        rows = await log.search(TrafficFilter(client="alice"))
        assert sorted(r["status"] for r in rows) == [200, 404]
        assert all(
            (r["service"], r["method"], r["path"]) == ("photos", "GET", "/api/photos") for r in rows
        )
        assert [r["status"] for r in await log.search(TrafficFilter(status="5xx"))] == [502]
        detail = await log.detail(sent[0].tx_id)
        assert detail is not None
        assert (detail["client"], detail["outbound_count"]) == ("alice", 2)
        assert detail["duration_ms"] == pytest.approx(12.3)
        assert [(c["seq"], c["target"], c["error"]) for c in detail["outbound"]] == [
            (0, "http://upstream:8080/p0", None),
            (1, "http://upstream:8080/p1", "ReadError"),
        ]
    finally:
        await log.close()
        await services.close()
