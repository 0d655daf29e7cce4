"""The benchmark's machinery: processes pinned to a core, wrk runs, result rows, the time
budget. Used by bench/run.py (the cases) and bench/hotpath.py (the profiler)."""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
WRK_DIR = BENCH / "wrk"
PEER_SRC = BENCH / "peer"
PEER_DIR = BENCH / ".peer"
RESULTS = BENCH / "results"
BIN = Path(sys.executable).parent
SCOPE = "api"
REDIRECT_URI = "http://127.0.0.1/cb"
SERVER_CPU, LOAD_CPU = "0", "1"
CONNECTIONS = 16
CLI_POOL_LIMIT = 2000  # larger refresh pools are minted in batches by bench/mint.py
CASE_OVERHEAD = 4.0  # seconds a case costs besides its runs (start, warm-up, minting)
PEER_ENDPOINTS = ("client_credentials", "introspection", "refresh_token")


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


class Skip(Exception):
    """A case or store that cannot run here; the message says why."""


# processes


class Process:
    """A server started by the harness, stopped by its PID."""

    def __init__(
        self, name: str, argv: list[str], *, cwd: Path, env: dict[str, str], logfile: Path
    ) -> None:
        self.name = name
        self.logfile = logfile
        with logfile.open("wb") as out:
            self.popen = subprocess.Popen(
                argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        self.pid = self.popen.pid

    def peak_rss_mb(self) -> float | None:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
        return None

    def tail(self, lines: int = 5) -> str:
        text = self.logfile.read_text(errors="replace").strip().splitlines()
        return " | ".join(text[-lines:])

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)


@contextlib.contextmanager
def started(process: Process) -> Iterator[Process]:
    try:
        yield process
    finally:
        process.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_seconds(pid: int, thread: int | None = None) -> float:
    """User and system CPU time so far of a process and all its threads, or of one thread."""
    stat = f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat"
    fields = Path(stat).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHGATE_")}
    env.update(extra)
    return env


def call(
    port: int,
    method: str,
    path: str,
    *,
    basic: str | None = None,
    form: dict[str, str] | None = None,
    bearer: str | None = None,
    timeout: float = 10,
    tls: bool = False,
) -> tuple[int, Any]:
    """One loopback request (`tls`: over HTTPS, the server's certificate not checked: it is
    the bench's own); the body is decoded as JSON when it is JSON."""
    headers: dict[str, str] = {}
    body = None
    if basic:
        headers["Authorization"] = f"Basic {basic}"
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    if form is not None:
        body = "&".join(f"{k}={quote(v, safe='')}" for k, v in form.items())
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    conn: http.client.HTTPConnection
    if tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=context)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        raw = response.read()
    finally:
        conn.close()
    try:
        return response.status, json.loads(raw)
    except ValueError:
        return response.status, raw.decode(errors="replace")


def brief(body: Any) -> str:
    return str(body)[:200]


def wait_ready(
    process: Process, port: int, path: str, timeout: float = 30, *, tls: bool = False
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise Skip(f"{process.name} exited at start: {process.tail()}")
        with contextlib.suppress(OSError):
            if call(port, "GET", path, tls=tls)[0] == 200:
                return
        time.sleep(0.1)
    raise Skip(f"{process.name} did not answer {path} within {timeout:.0f} s")


# wrk


@dataclass
class Run:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int


def wrk(
    script: str,
    port: int,
    duration: float,
    env: dict[str, str],
    scheme: str = "http",
    *,
    threads: int = 1,
    cpu: str | None = LOAD_CPU,
) -> Run:
    """`cpu`: the core wrk is pinned to; None: wherever the scheduler puts its threads."""
    seconds = max(1, round(duration))
    pinned = ["taskset", "-c", cpu] if cpu is not None else []
    argv = [
        *pinned,
        "wrk",
        f"-t{threads}",
        f"-c{CONNECTIONS}",
        f"-d{seconds}s",
        "-s",
        str(WRK_DIR / script),
        "--latency",
        f"{scheme}://127.0.0.1:{port}/",
    ]
    done = subprocess.run(
        argv,
        env=clean_env(BENCH_WRK_DIR=str(WRK_DIR), **env),
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=False,
    )
    for line in done.stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            r = json.loads(line.removeprefix("BENCH_RESULT "))
            errors = (
                r["status_errors"]
                + r["connect_errors"]
                + r["read_errors"]
                + r["write_errors"]
                + r["timeouts"]
            )
            return Run(
                rps=round(r["requests"] / (r["duration_us"] / 1e6), 1),
                p50_ms=round(r["p50_us"] / 1000, 2),
                p99_ms=round(r["p99_us"] / 1000, 2),
                requests=r["requests"],
                errors=errors,
            )
    raise RuntimeError(f"wrk gave no result: {done.stdout[-500:]} {done.stderr[-500:]}")


# results


@dataclass
class Row:
    endpoint: str
    server: str
    store: str
    rps: float | None = None
    spread_pct: float | None = None  # (slowest run - fastest run) / median
    p50_ms: float | None = None
    p99_ms: float | None = None
    ratio: float | None = None
    run_ratios: list[float] = field(default_factory=list)  # run by run, when interleaved
    peak_rss_mb: float | None = None
    runs: list[Run] = field(default_factory=list)
    duration_s: float | None = None
    errors: int = 0
    note: str = ""

    def record(self, runs: list[Run], duration: float) -> None:
        self.runs = runs
        self.duration_s = duration
        median = sorted(runs, key=lambda r: r.rps)[len(runs) // 2]
        self.rps = round(statistics.median(r.rps for r in runs), 1)
        rates = [r.rps for r in runs]
        if self.rps:
            self.spread_pct = round(100 * (max(rates) - min(rates)) / self.rps, 1)
        self.p50_ms, self.p99_ms = median.p50_ms, median.p99_ms
        self.errors = sum(r.errors for r in runs)
        if self.errors:
            total = sum(r.requests for r in runs)
            self.note = f"{self.errors} of {total} requests failed"


@dataclass
class Case:
    """One endpoint on one server: what wrk runs, and the pool file of each run (if any)."""

    row: Row
    process: Process
    script: str
    port: int
    env: dict[str, str]
    pools: list[Path] | None = None
    scheme: str = "http"
    threads: int = 1  # wrk's
    cpu: str | None = LOAD_CPU  # wrk's core; None: not pinned

    def run(self, index: int, duration: float) -> Run:
        env = dict(self.env, BENCH_POOL=str(self.pools[index])) if self.pools else self.env
        return self.drive(duration, env)

    def drive(self, duration: float, env: dict[str, str]) -> Run:
        return wrk(
            self.script, self.port, duration, env, self.scheme, threads=self.threads, cpu=self.cpu
        )

    def spent_pools(self, runs: list[Run]) -> int:
        """Runs that spent their pool: the last requests of each connection repeat the last
        value, and those still in flight when the run ends are not counted."""
        if not self.pools:
            return 0
        return sum(
            run.requests >= len(pool.read_text().split()) - CONNECTIONS
            for run, pool in zip(runs, self.pools, strict=False)
        )


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rows: list[Row] = []
        self.started = time.monotonic()
        self.deadline = self.started + args.budget
        self.cases_left = 0
        self.work = Path(tempfile.mkdtemp(prefix="authgate-bench-"))

    def plan(self, cases: int) -> None:
        self.cases_left = cases

    def duration(self, cases: int = 1) -> float:
        """The requested duration, shortened when the remaining cases would not fit."""
        left = self.deadline - time.monotonic() - CASE_OVERHEAD * max(self.cases_left, cases)
        fit = left / (max(self.cases_left, cases) * self.args.runs)
        if fit < 1:
            raise Skip("out of time budget (BENCH_BUDGET)")
        return min(float(self.args.duration), float(int(fit)))

    def skip(self, row: Row, reason: str) -> None:
        row.note = f"skipped: {reason}"
        log(f"skip {row.endpoint} on {row.server}/{row.store}: {reason}")

    def measure(
        self,
        row: Row,
        process: Process,
        script: str,
        port: int,
        env: dict[str, str],
        *,
        scheme: str = "http",
    ) -> None:
        """BENCH_RUNS runs of one case, after a 1-second warm-up."""
        self.measure_interleaved([Case(row, process, script, port, env, scheme=scheme)])

    def measure_interleaved(self, cases: list[Case]) -> None:
        """BENCH_RUNS runs of each case, the servers taking turns (A B, B A, A B, ...): the
        machine's drift over minutes falls on every server alike, and their ratio is taken
        from runs seconds apart. Each row keeps the median run and the spread of its runs."""
        self.rows.extend(case.row for case in cases)
        try:
            duration = self.duration(len(cases))
            for case in cases:
                if not case.pools:  # a pooled case was warmed up by its calibration run
                    case.drive(1, case.env)
            runs: dict[int, list[Run]] = {id(case): [] for case in cases}
            for index in range(self.args.runs):
                for case in cases if index % 2 == 0 else cases[::-1]:
                    runs[id(case)].append(case.run(index, duration))
        except (Skip, RuntimeError, subprocess.TimeoutExpired) as exc:
            for case in cases:
                self.skip(case.row, str(exc))
            return
        finally:
            self.cases_left -= len(cases)
        for case in cases:
            row = case.row
            row.record(runs[id(case)], duration)
            spent = case.spent_pools(runs[id(case)])
            if spent:
                row.note = (row.note + "; " if row.note else "") + (
                    f"pool spent early in {spent} run(s): rate understated"
                )
            if duration < self.args.duration:
                row.note = (row.note + "; " if row.note else "") + f"shortened to {duration:g} s"
            if len(cases) > 1:
                row.note = (row.note + "; " if row.note else "") + "interleaved"
            row.peak_rss_mb = case.process.peak_rss_mb()
            log(
                f"{row.endpoint:20} {row.server:8} {row.store:10} {row.rps:>9} req/s "
                f"(spread {row.spread_pct}%) p50 {row.p50_ms} ms p99 {row.p99_ms} ms {row.note}"
            )

    def pooled(
        self,
        row: Row,
        process: Process,
        script: str,
        port: int,
        env: dict[str, str],
        *,
        mint: Callable[[int], list[str]],
        probe: Callable[[str], None],
        rate: float | None,
        directory: Path,
        cases: int = 1,
    ) -> Case | None:
        """Single-use credentials: a 1-second calibration run (also the warm-up) sizes the
        pools, one per run, so that no run spends its pool. None (the row skipped) when the
        grant cannot run; `cases` is how many cases will share the time left."""
        name = row.endpoint
        try:
            duration = self.duration(cases)
            values = mint(self.pool_size(rate, 1) + 1)
            probe(values.pop())
            calibration = split_pool(values, 1, directory, f"{name}-calibration")[0]
            measured = wrk(script, port, 1, dict(env, BENCH_POOL=str(calibration))).rps
            # A cold first second (JIT, caches) can understate the rate: take the larger.
            rate = max(measured, rate or 0)
            values = mint(self.pool_size(rate, duration) * self.args.runs)
        except (Skip, RuntimeError, subprocess.TimeoutExpired, OSError) as exc:
            self.rows.append(row)
            self.skip(row, str(exc))
            self.cases_left -= 1
            return None
        pools = split_pool(values, self.args.runs, directory, name)
        return Case(row, process, script, port, env, pools)

    def pool_size(self, rate: float | None, duration: float) -> int:
        """Values one run of `duration` seconds may use at `rate`, with a margin."""
        return max(200, int((rate or 2000) * duration * 1.6) + 100)


def split_pool(values: list[str], runs: int, directory: Path, name: str) -> list[Path]:
    size = len(values) // runs
    paths = []
    for index in range(runs):
        path = directory / f"{name}-{index}.txt"
        path.write_text("".join(v + "\n" for v in values[index * size : (index + 1) * size]))
        paths.append(path)
    return paths


# tools


def ensure_wrk() -> None:
    if shutil.which("wrk"):
        return
    log("installing wrk from Debian")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    subprocess.run([*sudo, "apt-get", "install", "-y", "wrk"], check=True, timeout=300)


def ensure_nginx() -> str | None:
    """nginx for the gateway's anchor row: installed from Debian when missing and this process
    may (root); otherwise None and the reason is printed."""
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None
    )
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        log("nginx is not installed (Debian package nginx): its gateway row is skipped")
        return None
    log("installing nginx from Debian")
    done = subprocess.run(
        ["apt-get", "install", "-y", "--no-install-recommends", "nginx"],
        env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"),
        capture_output=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        log("apt-get install nginx failed: its gateway row is skipped")
        return None
    return shutil.which("nginx") or "/usr/sbin/nginx"


def ensure_peer() -> None:
    """npm install of the pinned oidc-provider into bench/.peer/ (git-ignored)."""
    PEER_DIR.mkdir(exist_ok=True)
    for name in ("package.json", "server.mjs"):
        shutil.copyfile(PEER_SRC / name, PEER_DIR / name)
    wanted = json.loads((PEER_SRC / "package.json").read_text())["dependencies"]["oidc-provider"]
    installed = PEER_DIR / "node_modules" / "oidc-provider" / "package.json"
    if installed.exists() and json.loads(installed.read_text())["version"] == wanted:
        return
    log(f"installing oidc-provider {wanted} into {PEER_DIR}")
    subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=PEER_DIR,
        check=True,
        timeout=300,
    )


# report


def add_ratios(rows: list[Row]) -> None:
    """authgate over the peer of its row: node-oidc-provider for the OAuth endpoints, nginx
    (or, without nginx, the upstream called directly) for the gateway. Rows measured
    interleaved also get the ratio of each run to the peer's run next to it."""
    peers = {r.endpoint: r for r in rows if r.server == "peer" and r.rps}
    anchor = {r.server: r for r in rows if r.endpoint == "gateway GET" and r.rps}
    gateway_base = anchor.get("nginx") or anchor.get("upstream")
    for row in rows:
        if row.server != "authgate" or not row.rps:
            continue
        base = gateway_base if row.endpoint == "gateway GET" else peers.get(row.endpoint)
        if base is None or not base.rps:
            continue
        row.ratio = round(row.rps / base.rps, 2)
        if "interleaved" in row.note and "interleaved" in base.note:
            row.run_ratios = [
                round(mine.rps / theirs.rps, 2)
                for mine, theirs in zip(row.runs, base.runs, strict=False)
                if theirs.rps
            ]


def table(rows: list[Row]) -> str:
    head = (
        "| endpoint | server | store | req/s | spread % | p50 ms | p99 ms | authgate/peer "
        "| peak RSS MB | note |"
    )
    lines = [head, "|" + "---|" * 10]
    for r in rows:

        def show(value: Any) -> str:
            return "" if value is None else f"{value:g}" if isinstance(value, float) else str(value)

        runs = f"; run by run {', '.join(map(show, r.run_ratios))}" if r.run_ratios else ""
        lines.append(
            f"| {r.endpoint} | {r.server} | {r.store} | {show(r.rps)} | {show(r.spread_pct)} | "
            f"{show(r.p50_ms)} | {show(r.p99_ms)} | {show(r.ratio)} | "
            f"{show(r.peak_rss_mb)} | {r.note}{runs} |"
        )
    return "\n".join(lines)


def versions() -> dict[str, str]:
    def out(argv: list[str]) -> str:
        with contextlib.suppress(Exception):
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=10, cwd=ROOT, check=False
            )
            return (done.stdout or done.stderr).strip().splitlines()[0]
        return ""

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.machine(),
    )
    return {
        "python": platform.python_version(),
        "node": out(["node", "--version"]),
        "wrk": out(["wrk", "--version"]),
        "commit": out(["git", "rev-parse", "HEAD"]),
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "kernel": platform.release(),
    }
