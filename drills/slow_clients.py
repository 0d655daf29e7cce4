"""Slow clients: 1,000 connections that stay idle or trickle a request one byte a second,
held (and reopened when the server closes them) while a normal client introspects a token
back to back. That client's p99 must stay within 100 ms of its quiet figure.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass

import httpx

from drills import load
from drills.harness import Authgate, Report, arguments, log, running, workdir

SLOW = 1000
TARGET_MS = 100.0
TRICKLE = b"POST /oauth2/token HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"s" * 4000


@dataclass
class Pressure:
    open: int = 0
    opened: int = 0
    refused: int = 0  # connections that could not be opened
    closed_by_server: int = 0  # closed, with or without an answer (408 past a deadline, 503)


async def slow_connection(port: int, trickle: bool, stop: asyncio.Event, p: Pressure) -> None:
    """One slow client, reopened whenever the server closes it, until `stop`."""
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            p.refused += 1
            await asyncio.sleep(1)
            continue
        p.open += 1
        p.opened += 1
        try:
            for byte in TRICKLE:
                if stop.is_set():
                    break
                if trickle:
                    writer.write(bytes([byte]))
                    await writer.drain()
                # An answer or a close from the server ends this connection.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(reader.read(1024), 1.0)
                    p.closed_by_server += 1  # the server answered (408, 503) or closed
                    break
        except OSError:
            p.closed_by_server += 1
        finally:
            p.open -= 1
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def measure(
    http: httpx.AsyncClient,
    url: str,
    form: dict[str, str],
    auth: tuple[str, str],
    seconds: float,
) -> tuple[list[float], list[int]]:
    latencies: list[float] = []
    statuses: list[int] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        sample = await load.send(http, "introspect", "POST", url, data=form, auth=auth)
        latencies.append(sample.latency)
        statuses.append(sample.status)
        await asyncio.sleep(0.01)
    return latencies, statuses


async def run(server: Authgate, report: Report, seconds: float) -> None:
    app = server.client("drill-app", "--grant-type", "client_credentials", "--introspect")
    token = server.cli("token", "create", "--client", app["client_id"], "--json")
    form = {"token": json.loads(token)["access_token"]}
    auth = (app["client_id"], app["client_secret"])
    url = f"{server.url}/oauth2/introspect"
    # The normal client's one connection is open before the slow ones arrive.
    async with load.client(1, timeout=30) as http:
        quiet, _ = await measure(http, url, form, auth, seconds)
        stop = asyncio.Event()
        pressure = Pressure()
        slow = [
            asyncio.create_task(slow_connection(server.port, i % 2 == 1, stop, pressure))
            for i in range(SLOW)
        ]
        settle = time.monotonic() + 30
        while pressure.open < SLOW * 0.95 and time.monotonic() < settle:  # noqa: ASYNC110
            await asyncio.sleep(0.2)  # the counter is plain data of many tasks: polled
        held_at_start = pressure.open
        loaded, statuses = await measure(http, url, form, auth, seconds)
        held_at_end = pressure.open
        stop.set()
        await asyncio.gather(*slow)
    quiet_p99, loaded_p99 = load.percentile(quiet, 99), load.percentile(loaded, 99)
    delta = load.ms(loaded_p99 - quiet_p99)
    failed = sum(1 for s in statuses if s != 200)
    report.add("slow connections (half idle, half trickling 1 byte/s)", SLOW)
    report.add(
        "slow connections open when measuring starts / ends", f"{held_at_start} / {held_at_end}"
    )
    report.add("slow connections opened in all (reopened after a server close)", pressure.opened)
    report.add("slow connections ended by the server (408, 503, close)", pressure.closed_by_server)
    report.add("slow connections that could not connect", pressure.refused)
    report.add("normal requests, quiet / under slow clients", f"{len(quiet)} / {len(loaded)}")
    report.add(
        "quiet p50 / p99, ms", f"{load.ms(load.percentile(quiet, 50))} / {load.ms(quiet_p99)}"
    )
    report.add(
        "under slow clients p50 / p99, ms",
        f"{load.ms(load.percentile(loaded, 50))} / {load.ms(loaded_p99)}",
    )
    report.add("p99 added by the slow clients, ms", delta, "< 100", delta < TARGET_MS)
    report.add("normal requests not answered 200", failed, "0", failed == 0)
    log(f"slow_clients: {pressure}")


def main() -> int:
    args = arguments(__doc__ or "")
    report = Report("slow_clients")
    server = Authgate(workdir("slow"))
    with running(server):
        asyncio.run(run(server, report, 5.0 if args.quick else 60.0))
    traces = server.tracebacks()
    report.add("tracebacks in the server log", len(traces), "0", not traces)
    return report.finish(args.out)


if __name__ == "__main__":
    raise SystemExit(main())
