"""The gateway's upstream client against aiohttp's, on one upstream. Run: `make bench-upstream`.

The upstream is a raw asyncio protocol on uvloop in a process of its own, pinned to core 1
(`taskset -c 1`), answering every GET from pre-built bytes: `small` 200 bytes, `large`
1 MiB, with Content-Length, over keep-alive connections. Each client runs in a fresh process
pinned to core 0, on uvloop, with CONCURRENCY tasks sending GETs back to back over at most
CONCURRENCY keep-alive connections, and reads every body as a stream, chunk by chunk:

- authgate: `authgate.gateway.upstream.UpstreamPool`, as the gateway calls it;
- aiohttp: `aiohttp.ClientSession` over a `TCPConnector(limit=CONCURRENCY)`.

Both send the same two headers (accept, user-agent) besides host. Every case runs a warm-up,
then RUNS runs of DURATION seconds, the two clients alternating; the table shows the median
run by requests/s with its p50 and p99 latency, the client's CPU time per request and how
busy the upstream's core was. The rows also go to bench/results/upstream-<time>.json.

    .venv/bin/python bench/upstream_client.py [--duration 5] [--runs 3] [--concurrency 16]
                                              [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar, cast

from harness import RESULTS, cpu_seconds, free_port, log, versions

SMALL = 200
LARGE = 1024 * 1024
SIZES = {"small": SMALL, "large": LARGE}
CLIENTS = ("authgate", "aiohttp")
UPSTREAM_CPU, CLIENT_CPU = "1", "0"
HEADERS = {"accept": "*/*", "user-agent": "authgate-bench"}
INSTALL_HINT = "pip install -e '.[bench]'"


# the upstream


def answer(size: int) -> bytes:
    head = (
        f"HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\n"
        f"content-length: {size}\r\n\r\n"
    ).encode()
    return head + b"x" * size


class Upstream(asyncio.Protocol):
    """GETs without bodies, one at a time per connection: each head gets its answer."""

    answers: ClassVar[dict[bytes, bytes]] = {b"/small": answer(SMALL), b"/large": answer(LARGE)}

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        buffer = self.buffer + data
        while (end := buffer.find(b"\r\n\r\n")) >= 0:
            request_line = buffer[: buffer.find(b"\r\n")]
            buffer = buffer[end + 4 :]
            path = request_line.split(b" ")[1]
            self.transport.write(self.answers.get(path, self.answers[b"/small"]))
        self.buffer = buffer


async def serve_upstream(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Upstream, "127.0.0.1", port, backlog=1024)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


# the clients


Call = Callable[[], Awaitable[int]]


async def authgate_client(
    port: int, path: str, concurrency: int
) -> tuple[Call, Callable[[], Awaitable[None]]]:
    from authgate.gateway.upstream import Target, UpstreamPool

    pool = UpstreamPool(max_connections=concurrency)
    target = Target.parse(f"http://127.0.0.1:{port}")
    headers = [(name.encode(), value.encode()) for name, value in HEADERS.items()]
    raw_path = path.encode()

    async def call() -> int:
        response = await pool.request(
            target, b"GET", raw_path, headers, None, content_length=None, time_limit=30
        )
        if response.status != 200:
            raise RuntimeError(f"status {response.status}")
        size = 0
        while chunk := await response.read():
            size += len(chunk)
        return size

    return call, pool.close


async def aiohttp_client(
    port: int, path: str, concurrency: int
) -> tuple[Call, Callable[[], Awaitable[None]]]:
    import aiohttp

    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=concurrency),
        auto_decompress=False,
        skip_auto_headers=("Accept-Encoding",),
        headers=HEADERS,
    )
    url = f"http://127.0.0.1:{port}{path}"

    async def call() -> int:
        async with session.get(url) as response:
            if response.status != 200:
                raise RuntimeError(f"status {response.status}")
            size = 0
            async for chunk in response.content.iter_any():
                size += len(chunk)
            return size

    return call, session.close


async def measure(
    client: str,
    case: str,
    port: int,
    duration: float,
    warmup: float,
    concurrency: int,
    upstream_pid: int,
) -> dict[str, Any]:
    make = authgate_client if client == "authgate" else aiohttp_client
    call, close = await make(port, f"/{case}", concurrency)
    expected = SIZES[case]

    async def drive(seconds: float, latencies: list[float] | None) -> None:
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            while (started := time.perf_counter()) < deadline:
                size = await call()
                if latencies is not None:
                    latencies.append(time.perf_counter() - started)
                if size != expected:
                    raise RuntimeError(f"a body of {size} bytes, not {expected}")

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    try:
        await drive(warmup, None)
        latencies: list[float] = []
        cpu, upstream_cpu = time.process_time(), cpu_seconds(upstream_pid)
        started = time.perf_counter()
        await drive(duration, latencies)
        elapsed = time.perf_counter() - started
        cpu, upstream_cpu = time.process_time() - cpu, cpu_seconds(upstream_pid) - upstream_cpu
    finally:
        await close()
    latencies.sort()
    count = len(latencies)
    return {
        "requests": count,
        "seconds": round(elapsed, 3),
        "rps": round(count / elapsed, 1),
        "p50_ms": round(latencies[count // 2] * 1000, 3),
        "p99_ms": round(latencies[min(count - 1, int(count * 0.99))] * 1000, 3),
        "cpu_us_per_request": round(cpu / count * 1e6, 1),
        "upstream_busy": round(upstream_cpu / elapsed, 2),
    }


def client_main(args: argparse.Namespace) -> int:
    import uvloop

    result = uvloop.run(
        measure(
            args.client,
            args.case,
            args.port,
            args.duration,
            args.warmup,
            args.concurrency,
            args.upstream_pid,
        )
    )
    print(json.dumps(result))
    return 0


# the run


@dataclass
class Row:
    case: str
    client: str
    rps: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    cpu_us_per_request: float | None = None
    upstream_busy: float | None = None
    ratio: float | None = None  # authgate / aiohttp requests/s
    note: str = ""
    runs: list[dict[str, Any]] | None = None


def pinned(core: str) -> list[str]:
    if shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
        return ["taskset", "-c", core]
    return []


def run_client(
    client: str, case: str, port: int, upstream_pid: int, args: argparse.Namespace
) -> dict[str, Any]:
    argv = [
        *pinned(CLIENT_CPU),
        sys.executable,
        __file__,
        "--client",
        client,
        "--case",
        case,
        "--port",
        str(port),
        "--upstream-pid",
        str(upstream_pid),
        "--duration",
        str(args.duration),
        "--warmup",
        str(args.warmup),
        "--concurrency",
        str(args.concurrency),
    ]
    done = subprocess.run(
        argv, capture_output=True, text=True, check=False, timeout=args.warmup + args.duration + 60
    )
    if done.returncode != 0:
        raise RuntimeError(f"{client} {case}: {done.stderr.strip()[-800:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def has_aiohttp() -> bool:
    return importlib.util.find_spec("aiohttp") is not None


def run_cases(args: argparse.Namespace, port: int, upstream_pid: int) -> list[Row]:
    clients = [c for c in CLIENTS if c != "aiohttp" or has_aiohttp()]
    rows: list[Row] = []
    for case in ("small", "large"):
        runs: dict[str, list[dict[str, Any]]] = {client: [] for client in clients}
        for number in range(args.runs):
            # Alternate which client goes first: the machine's speed drifts over minutes.
            for client in clients if number % 2 == 0 else clients[::-1]:
                result = run_client(client, case, port, upstream_pid, args)
                log(
                    f"{case} {client} run {number + 1}: {result['rps']} req/s, "
                    f"p99 {result['p99_ms']} ms"
                )
                runs[client].append(result)
        case_rows = []
        for client in CLIENTS:
            if client not in runs:
                case_rows.append(
                    Row(
                        case,
                        client,
                        note=f"skipped: aiohttp is not installed "
                        f"({INSTALL_HINT}, or make bench-upstream)",
                    )
                )
                continue
            median = sorted(runs[client], key=lambda r: r["rps"])[len(runs[client]) // 2]
            case_rows.append(
                Row(
                    case,
                    client,
                    median["rps"],
                    median["p50_ms"],
                    median["p99_ms"],
                    median["cpu_us_per_request"],
                    median["upstream_busy"],
                    runs=runs[client],
                    note=f"median of {len(runs[client])} runs of {args.duration:g} s",
                )
            )
        own, other = case_rows
        if own.rps and other.rps:
            own.ratio = round(own.rps / other.rps, 2)
        rows += case_rows
    return rows


def table(rows: list[Row]) -> str:
    def show(value: float | None) -> str:
        return "" if value is None else f"{value:g}"

    lines = [
        "| case | client | req/s | p50 ms | p99 ms | client CPU µs/req | upstream core busy "
        "| authgate/aiohttp | note |",
        "|" + "---|" * 9,
    ]
    for r in rows:
        busy = "" if r.upstream_busy is None else f"{r.upstream_busy:.0%}"
        lines.append(
            f"| {r.case} | {r.client} | {show(r.rps)} | {show(r.p50_ms)} | "
            f"{show(r.p99_ms)} | {show(r.cpu_us_per_request)} | {busy} | "
            f"{show(r.ratio)} | {r.note} |"
        )
    return "\n".join(lines)


def package_versions() -> dict[str, str]:
    found = {k: v for k, v in versions().items() if k not in ("node", "wrk")}
    for name in ("aiohttp", "uvloop", "httptools"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found[name] = importlib.metadata.version(name)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of each run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds before each run")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--smoke", action="store_true", help="one short run per case")
    parser.add_argument("--out", type=Path, help="JSON file of the rows")
    # the roles of the processes this one starts
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--client", choices=CLIENTS, help=argparse.SUPPRESS)
    parser.add_argument("--case", choices=tuple(SIZES), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--upstream-pid", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve is not None:
        import uvloop

        uvloop.run(serve_upstream(args.serve))
        return 0
    if args.client is not None:
        return client_main(args)
    if args.smoke:
        args.duration, args.runs, args.warmup = 0.5, 1, 0.2

    python = Path(sys.executable)
    with contextlib.suppress(ValueError):
        python = python.relative_to(Path(__file__).resolve().parents[1])
    command = " ".join([str(python), *sys.argv])
    started_at = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    load_before = os.getloadavg()[0]
    port = free_port()
    upstream = subprocess.Popen(
        [*pinned(UPSTREAM_CPU), sys.executable, __file__, "--serve", str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert upstream.stdout is not None
        if upstream.stdout.readline().strip() != "ready":
            raise RuntimeError("the upstream did not start")
        rows = run_cases(args, port, upstream.pid)
    finally:
        upstream.terminate()
        try:
            upstream.wait(timeout=10)
        except subprocess.TimeoutExpired:
            upstream.kill()
            upstream.wait()
    load_after = os.getloadavg()[0]
    pins = "pinned: upstream on core 1, each client on core 0" if pinned("0") else "not pinned"
    print(
        f"{started_at}, `{command}`, {args.concurrency} concurrent requests, {pins}, "
        f"load average {load_before:.2f} before, {load_after:.2f} after"
    )
    print(table(rows))
    report = {
        "started": started_at,
        "command": command,
        "concurrency": args.concurrency,
        "pinned": bool(pinned("0")),
        "load": [load_before, load_after],
        "versions": package_versions(),
        "rows": [asdict(r) for r in rows],
    }
    out = args.out or RESULTS / f"upstream-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    log(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
