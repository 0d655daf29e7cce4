"""Soak: first the capacity of a token grant + introspection mix (closed loop), then that mix at
half the capacity for `--minutes` (30 by default): the server's RSS may grow less than 10 %,
its p99 stays steady, no request fails, and the SQLite tables stay bounded by the purge.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from drills import load
from drills.harness import Authgate, Report, arguments, log, rss_kib, running, workdir
from drills.load import Sample, Step

ACCESS_EXPIRY = 60  # seconds: short, so the purge has work within minutes
PURGE_INTERVAL = 30
CONFIG = f"""
[storage]
purge_interval = {PURGE_INTERVAL}

[tokens]
access_token_expiry = {ACCESS_EXPIRY}
"""
IN_FLIGHT = 32
StepFactory = Callable[[httpx.AsyncClient], Step]
TABLES = ("tokens", "traffic", "traffic_outbound", "sessions", "lockouts")


@dataclass
class Window:
    at: float  # seconds into the soak
    rss_kib: int
    rows: dict[str, int]
    p99_ms: float
    requests: int
    failed: int


@dataclass
class Soak:
    samples: list[Sample] = field(default_factory=list)
    windows: list[Window] = field(default_factory=list)


def row_counts(database: str) -> dict[str, int]:
    counts = {}
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10) as conn:
        for table in TABLES:
            try:
                counts[table] = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
            except sqlite3.Error:
                counts[table] = -1
    return counts


def mix(server: Authgate, sink: list[Sample]) -> StepFactory:
    app = server.client("drill-app", "--grant-type", "client_credentials", "--introspect")
    issued = json.loads(server.cli("token", "create", "--client", app["client_id"], "--json"))
    auth = (app["client_id"], app["client_secret"])
    grant = {"grant_type": "client_credentials"}
    check = {"token": issued["access_token"]}
    token_url, introspect_url = f"{server.url}/oauth2/token", f"{server.url}/oauth2/introspect"

    def step_with(http: httpx.AsyncClient) -> Step:
        async def step(index: int) -> None:
            if index % 2:
                sample = await load.send(http, "grant", "POST", token_url, data=grant, auth=auth)
            else:
                sample = await load.send(
                    http, "introspect", "POST", introspect_url, data=check, auth=auth
                )
            sink.append(sample)

        return step

    return step_with


async def capacity(step_with: StepFactory, seconds: float) -> float:
    async with load.client(8) as http:
        step = step_with(http)
        counter = 0

        async def counted(worker: int) -> None:
            nonlocal counter
            counter += 1
            await step(counter)

        started = time.monotonic()
        await load.closed_loop(8, seconds, counted)
        return counter / (time.monotonic() - started)


async def soak(
    server: Authgate, step_with: StepFactory, soak_: Soak, rate: float, seconds: float, every: float
) -> int:
    database = str(server.directory / "authgate.db")
    started = time.monotonic()
    done = asyncio.Event()

    async def sampler() -> None:
        seen = 0
        while not done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), every)
            window = soak_.samples[seen:]
            seen = len(soak_.samples)
            rows = await asyncio.to_thread(row_counts, database)
            soak_.windows.append(
                Window(
                    at=round(time.monotonic() - started),
                    rss_kib=rss_kib(server.pid) or 0,
                    rows=rows,
                    p99_ms=load.ms(load.percentile([s.latency for s in window], 99)),
                    requests=len(window),
                    failed=sum(1 for s in window if s.status != 200),
                )
            )
            w = soak_.windows[-1]
            log(f"soak {w.at:>5} s: RSS {w.rss_kib} KiB, p99 {w.p99_ms} ms, rows {w.rows}")

    async def driver() -> int:
        # A bounded client, as a real fleet of clients is: when the server falls behind, starts
        # are skipped (and counted) rather than queued without end.
        async with load.client(IN_FLIGHT) as http:
            skipped = await load.open_loop(rate, seconds, step_with(http), max_in_flight=IN_FLIGHT)
        done.set()
        return skipped

    skipped, _ = await asyncio.gather(driver(), sampler())
    return skipped


def main() -> int:
    minutes = {"type": float, "default": 30.0, "help": "length of the soak (default 30)"}
    args = arguments(__doc__ or "", [("--minutes", minutes)])
    seconds = 20.0 if args.quick else args.minutes * 60
    every = 2.0 if args.quick else 30.0
    report = Report("soak")
    server = Authgate(workdir("soak"), CONFIG)
    result = Soak()
    capacity_samples: list[Sample] = []
    with running(server):
        measured = asyncio.run(capacity(mix(server, capacity_samples), 3.0 if args.quick else 20.0))
        rate = measured / 2
        log(f"soak: capacity {measured:.0f} req/s; soaking at {rate:.0f} req/s for {seconds:.0f} s")
        step_with = mix(server, result.samples)
        skipped = asyncio.run(soak(server, step_with, result, rate, seconds, every))
    traces = server.tracebacks()
    judge(report, result, measured, rate, seconds, skipped)
    report.add("tracebacks in the server log", len(traces), "0", not traces)
    return report.finish(args.out)


def judge(
    report: Report, result: Soak, measured: float, rate: float, seconds: float, skipped: int
) -> None:
    windows = result.windows
    # RSS after the first tenth (start-up, caches, the first purge) against the end.
    warm = windows[max(0, len(windows) // 10)]
    last = windows[-1]
    growth = round(100 * (last.rss_kib - warm.rss_kib) / warm.rss_kib, 1)
    failed = sum(1 for s in result.samples if s.status != 200)
    p99s = [w.p99_ms for w in windows[1:] if w.requests]
    grant_rate = rate / 2
    bound = int(grant_rate * (ACCESS_EXPIRY + PURGE_INTERVAL) * 1.5) + 1000
    most = max(w.rows.get("tokens", 0) for w in windows)
    report.add("capacity of the mix (8 connections), req/s", round(measured))
    report.add("soak rate, req/s / minutes", f"{rate:.0f} / {seconds / 60:g}")
    report.add("requests in the soak", len(result.samples))
    share = round(100 * skipped / max(1, skipped + len(result.samples)), 2)
    report.add(f"starts skipped ({IN_FLIGHT} in flight), %", share, "< 1", share < 1)
    report.add("requests not answered 200", failed, "0", failed == 0)
    report.add(
        "RSS after warm-up / at the end, MiB",
        f"{warm.rss_kib / 1024:.1f} / {last.rss_kib / 1024:.1f}",
    )
    report.add("RSS growth, %", growth, "< 10", growth < 10)
    quarter = max(1, len(p99s) // 4)
    first = statistics.median(p99s[:quarter] or [0.0])
    final = statistics.median(p99s[-quarter:] or [0.0])
    report.add(
        "p99 per window: first / last quarter (median), max, ms",
        f"{first} / {final}, {max(p99s or [0])}",
    )
    steady = final <= max(2 * first, first + 20)
    report.add("p99 steady (last quarter ≤ 2x first, or + 20 ms)", steady, "yes", steady)
    report.add("token rows: max / at the end", f"{most} / {last.rows.get('tokens')}")
    report.add(f"token rows bounded (≤ {bound:,})", most <= bound, "yes", most <= bound)
    others = {t: max(w.rows.get(t, 0) for w in windows) for t in TABLES if t != "tokens"}
    report.add("other rows, max", ", ".join(f"{t} {n}" for t, n in others.items()))
    failures = Counter(f"{s.kind} {s.status or s.error}" for s in result.samples if s.status != 200)
    for what, count in failures.most_common(5):
        report.note(f"not answered 200: {what} x{count}")


if __name__ == "__main__":
    raise SystemExit(main())
