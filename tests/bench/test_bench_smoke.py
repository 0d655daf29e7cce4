"""The benchmark harness (bench/run.py) runs end to end: one 1-second run per endpoint.

No timing is asserted: the machine may be busy. The wrk benches are skipped without wrk or
taskset, unless AUTHGATE_REQUIRE_BACKENDS=1 makes a missing tool a failure; the upstream
client bench needs neither, and measures aiohttp only where the `bench` extra is installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def require(tool: str) -> None:
    if shutil.which(tool) is None:
        if os.environ.get("AUTHGATE_REQUIRE_BACKENDS") == "1":
            pytest.fail(f"{tool} is not installed (AUTHGATE_REQUIRE_BACKENDS=1)")
        pytest.skip(f"{tool} is not installed")


def smoke(
    tmp_path: Path, script: str, *options: str, timeout: float = 120
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """Run `bench/<script> --smoke`: what it printed, and the JSON report it wrote."""
    out = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), "--smoke", *options, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report: dict[str, Any] = json.loads(out.read_text())
    return done, report


def test_smoke_run_measures_every_authgate_endpoint_on_the_memory_store(tmp_path: Path) -> None:
    require("wrk")
    require("taskset")
    done, report = smoke(tmp_path, "run.py", timeout=240)
    rows = {row["endpoint"]: row for row in report["rows"]}
    endpoints = ("introspection", "refresh_token", "authorization_code")
    for endpoint in ("client_credentials", "client_credentials (https)", *endpoints):
        row = rows[endpoint]
        assert row["server"] == "authgate"
        assert not row["note"].startswith("skipped"), row["note"]
        assert row["rps"] > 0
        assert row["runs"][0]["requests"] > 0
        assert row["peak_rss_mb"] > 0
    assert "| client_credentials | authgate | memory |" in done.stdout


def test_gateway_smoke_run_measures_opaque_and_jwt_tokens_side_by_side(tmp_path: Path) -> None:
    require("wrk")
    require("taskset")
    done, report = smoke(tmp_path, "run.py", "--gateway-only", timeout=240)
    rows = {(row["endpoint"], row["server"]): row for row in report["rows"]}
    for key in (
        ("gateway GET", "upstream"),
        ("gateway GET", "authgate"),
        ("gateway GET (jwt)", "authgate"),
        ("client_credentials (jwt)", "authgate"),
    ):
        assert not rows[key]["note"].startswith("skipped"), rows[key]["note"]
        assert rows[key]["rps"] > 0 and rows[key]["errors"] == 0
    assert "| gateway GET (jwt) | authgate | memory |" in done.stdout


def test_memory_smoke_run_reads_the_server_and_sizes_the_memory_store(tmp_path: Path) -> None:
    require("wrk")
    require("taskset")
    done, report = smoke(tmp_path, "memory.py")
    assert not report["notes"], report["notes"]
    states = [row["state"] for row in report["server"]]
    assert sum(s.endswith(" s introspection") for s in states) == 2
    assert sum(s.endswith(" s client_credentials") for s in states) == 2
    for row in report["server"]:
        assert row["VmRSS"] > 0 and row["VmHWM"] >= row["VmRSS"]
    big = [row for row in report["server"] if row["store"] == "sqlite 20,000"]
    assert big[0]["tokens"] == 20_000 and big[-1]["tokens"] > 20_000
    assert {r["method"] for r in report["memory_store"]} == {"tracemalloc", "RSS delta"}
    assert all(r["bytes_per_record"] > 100 for r in report["memory_store"])
    assert report["import_floor"][-1]["VmRSS"] > report["import_floor"][0]["VmRSS"]
    assert "| sqlite 20,000 |" in done.stdout


def test_scale_smoke_run_measures_each_size_in_rounds_with_ratios(tmp_path: Path) -> None:
    require("wrk")
    require("taskset")
    done, report = smoke(tmp_path, "scale.py")
    assert not report["notes"], report["notes"]
    rows = {row["tokens"]: row for row in report["rows"]}
    assert set(rows) == {2_000, 20_000}
    for size, row in rows.items():
        assert row["store"] == "sqlite"
        assert row["introspection"] > 0 and row["client_credentials"] > 0
        assert row["VmHWM"] >= row["VmRSS"] > 0
        # The tokens client_credentials issued are deleted after each phase (but for a few
        # written as wrk stopped).
        assert size <= row["tokens_at_end"] < size + 100
    assert rows[2_000]["introspection_ratio"] == 1.0
    assert rows[20_000]["introspection_ratio"] > 0
    assert "| sqlite | 20,000 |" in done.stdout


def test_upstream_client_smoke_run_streams_both_cases_through_the_own_client(
    tmp_path: Path,
) -> None:
    done, report = smoke(tmp_path, "upstream_client.py")
    rows = {(row["case"], row["client"]): row for row in report["rows"]}
    assert set(rows) == {
        (case, client) for case in ("small", "large") for client in ("authgate", "aiohttp")
    }
    for case in ("small", "large"):
        own = rows[case, "authgate"]
        assert own["rps"] > 0
        assert own["runs"][0]["requests"] > 0  # each one a whole body, checked by the client
        aiohttp = rows[case, "aiohttp"]
        assert (aiohttp["rps"] or 0) > 0 or aiohttp["note"].startswith("skipped: aiohttp")
    assert "| small | authgate |" in done.stdout
