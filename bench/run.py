"""authgate against node-oidc-provider, with wrk, on this machine (issue 6). Run: `make bench`.

Each server under test runs pinned to core 0 (`taskset -c 0`), wrk on core 1
(`taskset -c 1 wrk -t1 -c16 -d10s --latency`), loopback only. Every endpoint gets
BENCH_RUNS runs (default 3) of BENCH_DURATION seconds (default 10); the table shows the median
run by requests/s, its p50 and p99, the ratio authgate/peer, and the peak RSS (VmHWM) of the
server process. The same rows go to bench/results/bench-<time>.json.

Single-use credentials (refresh tokens, authorization codes) are minted before the runs, a
pool per run sized from the client_credentials rate of the same server. The whole run keeps
within a time budget (BENCH_BUDGET seconds, default 570): when the remaining cases would not
fit, their runs are shortened and the table says so. Every process started here is stopped by
its PID on the way out.

    .venv/bin/python bench/run.py [--smoke] [--stores memory,sqlite,...] [--no-peer]
                                  [--no-gateway]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import http.client
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
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

    def __init__(self, name: str, argv: list[str], *, cwd: Path, env: dict[str, str],
                 logfile: Path) -> None:
        self.name = name
        self.logfile = logfile
        with logfile.open("wb") as out:
            self.popen = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out,
                                          stderr=subprocess.STDOUT)
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


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHGATE_")}
    env.update(extra)
    return env


def call(port: int, method: str, path: str, *, basic: str | None = None,
         form: dict[str, str] | None = None, bearer: str | None = None,
         timeout: float = 10) -> tuple[int, Any]:
    """One loopback request; the body is decoded as JSON when it is JSON."""
    headers: dict[str, str] = {}
    body = None
    if basic:
        headers["Authorization"] = f"Basic {basic}"
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    if form is not None:
        body = "&".join(f"{k}={quote(v, safe='')}" for k, v in form.items())
        headers["Content-Type"] = "application/x-www-form-urlencoded"
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


def wait_ready(process: Process, port: int, path: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise Skip(f"{process.name} exited at start: {process.tail()}")
        with contextlib.suppress(OSError):
            if call(port, "GET", path)[0] == 200:
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


def wrk(script: str, port: int, duration: float, env: dict[str, str]) -> Run:
    seconds = max(1, round(duration))
    argv = ["taskset", "-c", LOAD_CPU, "wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s",
            "-s", str(WRK_DIR / script), "--latency", f"http://127.0.0.1:{port}/"]
    done = subprocess.run(argv, env=clean_env(BENCH_WRK_DIR=str(WRK_DIR), **env),
                          capture_output=True, text=True, timeout=seconds + 60, check=False)
    for line in done.stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            r = json.loads(line.removeprefix("BENCH_RESULT "))
            errors = (r["status_errors"] + r["connect_errors"] + r["read_errors"]
                      + r["write_errors"] + r["timeouts"])
            return Run(rps=round(r["requests"] / (r["duration_us"] / 1e6), 1),
                       p50_ms=round(r["p50_us"] / 1000, 2), p99_ms=round(r["p99_us"] / 1000, 2),
                       requests=r["requests"], errors=errors)
    raise RuntimeError(f"wrk gave no result: {done.stdout[-500:]} {done.stderr[-500:]}")


# results


@dataclass
class Row:
    endpoint: str
    server: str
    store: str
    rps: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    ratio: float | None = None
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
        self.p50_ms, self.p99_ms = median.p50_ms, median.p99_ms
        self.errors = sum(r.errors for r in runs)
        if self.errors:
            total = sum(r.requests for r in runs)
            self.note = f"{self.errors} of {total} requests failed"


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

    def duration(self) -> float:
        """The requested duration, shortened when the remaining cases would not fit."""
        left = self.deadline - time.monotonic() - CASE_OVERHEAD * max(self.cases_left, 1)
        fit = left / (max(self.cases_left, 1) * self.args.runs)
        if fit < 1:
            raise Skip("out of time budget (BENCH_BUDGET)")
        return min(self.args.duration, float(int(fit)))

    def skip(self, row: Row, reason: str) -> None:
        row.note = f"skipped: {reason}"
        log(f"skip {row.endpoint} on {row.server}/{row.store}: {reason}")

    def measure(self, row: Row, process: Process, script: str, port: int,
                env: dict[str, str], *, pools: list[Path] | None = None,
                warmup: bool = True) -> None:
        """BENCH_RUNS runs of one case; a pool file per run for single-use credentials."""
        self.rows.append(row)
        try:
            duration = self.duration()
            if warmup:
                wrk(script, port, 1, env)
            runs = []
            for index in range(self.args.runs):
                run_env = dict(env, BENCH_POOL=str(pools[index])) if pools else env
                runs.append(wrk(script, port, duration, run_env))
            row.record(runs, duration)
            if duration < self.args.duration:
                row.note = (row.note + "; " if row.note else "") + f"shortened to {duration:g} s"
            row.peak_rss_mb = process.peak_rss_mb()
            log(f"{row.endpoint:20} {row.server:8} {row.store:10} {row.rps:>9} req/s "
                f"p50 {row.p50_ms} ms p99 {row.p99_ms} ms {row.note}")
        except (Skip, RuntimeError, subprocess.TimeoutExpired) as exc:
            self.skip(row, str(exc))
        finally:
            self.cases_left -= 1

    def measure_pooled(self, row: Row, process: Process, script: str, port: int,
                       env: dict[str, str], *, mint: Callable[[int], list[str]],
                       probe: Callable[[str], None], rate: float | None,
                       directory: Path) -> None:
        """Single-use credentials: a 1-second calibration run (also the warm-up) sizes the
        pools, one per run, so that no run spends its pool."""
        name = row.endpoint
        try:
            duration = self.duration()
            values = mint(self.pool_size(rate, 1) + 1)
            probe(values.pop())
            calibration = split_pool(values, 1, directory, f"{name}-calibration")[0]
            rate = wrk(script, port, 1, dict(env, BENCH_POOL=str(calibration))).rps
            values = mint(self.pool_size(rate, duration) * self.args.runs)
        except (Skip, RuntimeError, subprocess.TimeoutExpired, OSError) as exc:
            self.rows.append(row)
            self.skip(row, str(exc))
            self.cases_left -= 1
            return
        pools = split_pool(values, self.args.runs, directory, name)
        self.measure(row, process, script, port, env, pools=pools, warmup=False)

    def pool_size(self, rate: float | None, duration: float) -> int:
        """Values one run may use: the client_credentials rate is the ceiling of the others."""
        return max(200, int((rate or 2000) * duration * 1.6) + 100)


def split_pool(values: list[str], runs: int, directory: Path, name: str) -> list[Path]:
    size = len(values) // runs
    paths = []
    for index in range(runs):
        path = directory / f"{name}-{index}.txt"
        path.write_text("".join(v + "\n" for v in values[index * size:(index + 1) * size]))
        paths.append(path)
    return paths


# tools


def ensure_wrk() -> None:
    if shutil.which("wrk"):
        return
    log("installing wrk from Debian")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    subprocess.run([*sudo, "apt-get", "install", "-y", "wrk"], check=True, timeout=300)


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
    subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"],
                   cwd=PEER_DIR, check=True, timeout=300)


# the peer


def peer_cases(bench: Bench) -> None:
    basic = base64.b64encode(b"bench:bench-secret").decode()
    env = {"BENCH_BASIC": basic, "BENCH_SCOPE": SCOPE}
    rows = {e: Row(e, "peer", "memory") for e in PEER_ENDPOINTS}
    port, admin_port = free_port(), free_port()
    argv = ["taskset", "-c", SERVER_CPU, "node", "server.mjs", "--port", str(port),
            "--admin-port", str(admin_port)]
    process = Process("peer", argv, cwd=PEER_DIR, env=clean_env(NODE_ENV="production"),
                      logfile=bench.work / "peer.log")

    def mint(count: int) -> list[str]:
        status, body = call(admin_port, "POST", f"/mint?count={count}", timeout=300)
        if status != 200:
            raise Skip(f"minting refresh tokens answered {status}: {brief(body)}")
        return str(body).split()

    def probe(token: str) -> None:
        status, body = call(port, "POST", "/oauth2/token", basic=basic,
                            form={"grant_type": "refresh_token", "refresh_token": token})
        if status != 200:
            raise Skip(f"refresh_token answered {status}: {brief(body)}")

    with started(process):
        try:
            wait_ready(process, port, "/.well-known/openid-configuration")
            status, body = call(port, "POST", "/oauth2/token", basic=basic,
                                form={"grant_type": "client_credentials", "scope": SCOPE})
            if status != 200:
                raise Skip(f"client_credentials answered {status}: {brief(body)}")
        except Skip as exc:
            for row in rows.values():
                bench.rows.append(row)
                bench.skip(row, str(exc))
                bench.cases_left -= 1
            return
        bench.measure(rows["client_credentials"], process, "client_credentials.lua", port, env)
        bench.measure(rows["introspection"], process, "introspect.lua", port,
                      dict(env, BENCH_TOKEN=body["access_token"]))
        bench.measure_pooled(rows["refresh_token"], process, "refresh_token.lua", port, env,
                             mint=mint, probe=probe, rate=rows["client_credentials"].rps,
                             directory=bench.work)


# authgate


@dataclass
class Store:
    name: str
    url: str  # "" for the embedded SQLite default (tokens in the registry database)
    cleanup: Any = None


def authgate_cli(config: Path, *args: str, timeout: float = 300) -> str:
    done = subprocess.run([str(BIN / "authgate"), "--config", str(config), *args],
                          capture_output=True, text=True, timeout=timeout, check=False,
                          env=clean_env(), cwd=config.parent)
    if done.returncode != 0:
        raise Skip(f"authgate {args[0]} {args[1] if len(args) > 1 else ''} failed: "
                   f"{done.stderr.strip()[-300:]}")
    return done.stdout


def write_config(directory: Path, store: Store, extra: str = "") -> Path:
    lines = ["[storage]", f'url = "sqlite:///{directory}/authgate.db"']
    if store.url:
        lines.append(f'tokens = "{store.url}"')
    if store.url.startswith("memory:"):
        # Codes must be reachable by bench/mint.py, outside the server process.
        lines.append(f'codes = "sqlite:///{directory}/codes.db"')
    path = directory / "authgate.toml"
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


async def probe_store(url: str) -> None:
    from authgate.stores import open_store

    store = open_store(url, engines={})
    try:
        await store.ping()
    finally:
        await store.close()


def prepare_postgres(url: str) -> Any:
    """A fresh database `authgate_bench` beside the one the URL names; dropped afterwards."""
    import asyncpg

    admin = url.rsplit("/", 1)[0] + "/postgres"

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(admin.replace("postgresql+asyncpg", "postgresql"),
                                     timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run("DROP DATABASE IF EXISTS authgate_bench WITH (FORCE)"))
    asyncio.run(run("CREATE DATABASE authgate_bench"))
    return lambda: asyncio.run(run("DROP DATABASE IF EXISTS authgate_bench WITH (FORCE)"))


def flush_redis(url: str) -> Any:
    import redis

    def flush() -> None:
        client = redis.Redis.from_url(url, socket_timeout=5)
        try:
            client.flushdb()
        finally:
            client.close()

    flush()
    return flush


def stores(selected: list[str]) -> list[Store | tuple[str, str]]:
    """The stores to measure, or (name, reason) for one that cannot open here."""
    pg_url = os.environ.get("BENCH_POSTGRES_URL", "")
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
    found: list[Store | tuple[str, str]] = []
    for name in selected:
        try:
            if name == "memory":
                found.append(Store(name, "memory://"))
            elif name == "sqlite":
                found.append(Store(name, ""))
            elif name == "postgresql":
                cleanup = None
                url = pg_url
                if not url:
                    cleanup = prepare_postgres("postgresql://postgres@127.0.0.1:5432/postgres")
                    url = "postgresql://postgres@127.0.0.1:5432/authgate_bench"
                asyncio.run(probe_store(url))
                found.append(Store(name, url, cleanup))
            elif name == "redis":
                asyncio.run(probe_store(redis_url))
                found.append(Store(name, redis_url, flush_redis(redis_url)))
            else:
                found.append((name, "unknown store name"))
        except Exception as exc:
            found.append((name, f"{type(exc).__name__}: {exc}"[:300]))
    return found


class Authgate:
    """One `authgate serve` on core 0 with a fresh registry, a client, and its config."""

    def __init__(self, bench: Bench, store: Store, tag: str, extra_config: str = "") -> None:
        self.bench = bench
        self.store = store
        self.directory = bench.work / tag
        self.directory.mkdir()
        self.config = write_config(self.directory, store, extra_config)
        if store.url and not store.url.startswith("memory:"):
            authgate_cli(self.config, "migrate")
        created = json.loads(authgate_cli(
            self.config, "client", "create", "--name", "bench", "--scope", SCOPE,
            "--grant-type", "client_credentials", "--grant-type", "refresh_token",
            "--grant-type", "authorization_code", "--redirect-uri", REDIRECT_URI,
            "--introspect", "--json"))
        self.client_id = created["client_id"]
        secret = created["client_secret"]
        self.basic = base64.b64encode(
            f"{quote(self.client_id, safe='')}:{quote(secret, safe='')}".encode()).decode()
        self.port = free_port()
        argv = ["taskset", "-c", SERVER_CPU, str(BIN / "authgate"), "--config",
                str(self.config), "serve", "--port", str(self.port)]
        self.process = Process(f"authgate-{tag}", argv, cwd=self.directory, env=clean_env(),
                               logfile=self.directory / "server.log")

    def ready(self) -> None:
        wait_ready(self.process, self.port, "/healthz")

    def post(self, path: str, form: dict[str, str]) -> tuple[int, Any]:
        return call(self.port, "POST", path, basic=self.basic, form=form)

    def access_token(self) -> str:
        status, body = self.post("/oauth2/token",
                                 {"grant_type": "client_credentials", "scope": SCOPE})
        if status != 200:
            raise Skip(f"client_credentials answered {status}: {brief(body)}")
        return str(body["access_token"])

    def env(self, **extra: str) -> dict[str, str]:
        return {"BENCH_BASIC": self.basic, "BENCH_SCOPE": SCOPE, **extra}

    def mint(self, what: str, count: int) -> list[str]:
        """Codes or refresh tokens in the configured stores (not reachable for memory://)."""
        out = self.directory / f"{what}-minted.txt"
        if what == "refresh" and count <= CLI_POOL_LIMIT:
            lines = authgate_cli(self.config, "token", "create", "--client", self.client_id,
                                 "--user", "bench", "--scope", SCOPE, "--count", str(count),
                                 "--json").splitlines()
            return [json.loads(line)["refresh_token"] for line in lines]
        done = subprocess.run(
            [sys.executable, str(BENCH / "mint.py"), what, "--config", str(self.config),
             "--client", self.client_id, "--scope", SCOPE, "--count", str(count),
             "--out", str(out)],
            capture_output=True, text=True, timeout=300, check=False, env=clean_env())
        if done.returncode != 0:
            raise Skip(f"mint.py {what} failed: {done.stderr.strip()[-300:]}")
        return out.read_text().split()


def grant_probe(server: Authgate, what: str) -> Callable[[str], None]:
    """One exchange before the runs: a grant that fails skips the case, with the answer."""
    def probe(value: str) -> None:
        if what == "codes":
            form = {"grant_type": "authorization_code", "code": value,
                    "redirect_uri": REDIRECT_URI}
        else:
            form = {"grant_type": "refresh_token", "refresh_token": value}
        status, body = server.post("/oauth2/token", form)
        if status != 200:
            raise Skip(f"{form['grant_type']} answered {status}: {brief(body)}")
    return probe


def authgate_store_cases(bench: Bench, store: Store) -> None:
    rows = {e: Row(e, "authgate", store.name)
            for e in ("client_credentials", "introspection", "refresh_token",
                      "authorization_code")}
    if store.name == "memory":
        rows["authorization_code"].store = "memory+sqlite codes"
    try:
        server = Authgate(bench, store, store.name)
    except Skip as exc:
        for row in rows.values():
            bench.rows.append(row)
            bench.skip(row, str(exc))
            bench.cases_left -= 1
        return
    with started(server.process):
        try:
            server.ready()
            token = server.access_token()
        except Skip as exc:
            for row in rows.values():
                bench.rows.append(row)
                bench.skip(row, str(exc))
                bench.cases_left -= 1
            return
        bench.measure(rows["client_credentials"], server.process, "client_credentials.lua",
                      server.port, server.env())
        bench.measure(rows["introspection"], server.process, "introspect.lua", server.port,
                      server.env(BENCH_TOKEN=token))
        rate = rows["client_credentials"].rps
        for what, endpoint in (("codes", "authorization_code"), ("refresh", "refresh_token")):
            if what == "refresh" and store.name == "memory":
                continue
            script = f"{endpoint}.lua"
            env = server.env(BENCH_REDIRECT_URI_ENCODED=quote(REDIRECT_URI, safe=""))
            bench.measure_pooled(rows[endpoint], server.process, script, server.port, env,
                                 mint=lambda n, w=what: server.mint(w, n),
                                 probe=grant_probe(server, what), rate=rate,
                                 directory=server.directory)
    if store.name == "memory":
        memory_refresh_case(bench, store, rows["refresh_token"], rate)


def memory_refresh_case(bench: Bench, store: Store, row: Row, rate: float | None) -> None:
    """memory:// tokens live in the server: mint them through it, as client_credentials with
    `refresh = "new"` (a second server, so the first one measured the default flow)."""
    extra = '[flows.client_credentials.tokens]\nrefresh = "new"\n'
    try:
        server = Authgate(bench, store, "memory-refresh", extra)
    except Skip as exc:
        bench.rows.append(row)
        bench.skip(row, str(exc))
        bench.cases_left -= 1
        return
    minted = 0

    def mint(count: int) -> list[str]:
        nonlocal minted
        minted += 1
        pool_file = server.directory / f"minted-{minted}.txt"
        seconds = min(120, 5 + 3 * count / max(rate or 100, 100))
        wrk("mint_refresh.lua", server.port, seconds,
            server.env(BENCH_POOL=str(pool_file), BENCH_COUNT=str(count)))
        values = pool_file.read_text().split()
        if len(values) < count:
            raise Skip(f"minted {len(values)} of {count} refresh tokens")
        return values

    with started(server.process):
        try:
            server.ready()
            status, body = server.post("/oauth2/token",
                                       {"grant_type": "client_credentials", "scope": SCOPE})
            if status != 200 or "refresh_token" not in body:
                raise Skip(f'client_credentials with refresh = "new" answered {status}: '
                           f"{brief(body)}")
        except Skip as exc:
            bench.rows.append(row)
            bench.skip(row, str(exc))
            bench.cases_left -= 1
            return
        bench.measure_pooled(row, server.process, "refresh_token.lua", server.port,
                             server.env(), mint=mint, probe=grant_probe(server, "refresh"),
                             rate=rate, directory=server.directory)


# the gateway


def gateway_cases(bench: Bench) -> None:
    direct = Row("gateway GET", "upstream", "direct")
    routed = Row("gateway GET", "authgate", "memory")
    up_port = free_port()
    argv = ["taskset", "-c", SERVER_CPU, str(BIN / "uvicorn"), "--app-dir", str(BENCH),
            "upstream:app", "--port", str(up_port), "--loop", "uvloop", "--http", "httptools",
            "--no-access-log", "--log-level", "warning"]
    upstream = Process("upstream", argv, cwd=bench.work, env=clean_env(),
                       logfile=bench.work / "upstream.log")
    with started(upstream):
        try:
            wait_ready(upstream, up_port, "/")
        except Skip as exc:
            for row in (direct, routed):
                bench.rows.append(row)
                bench.skip(row, str(exc))
                bench.cases_left -= 1
            return
        bench.measure(direct, upstream, "gateway.lua", up_port, {"BENCH_PATH": "/api/bench"})
        extra = (f'[[gateway.routes]]\npath = "/api/bench"\n'
                 f'upstream = "http://127.0.0.1:{up_port}"\nscopes = ["{SCOPE}"]\n'
                 f'service = "bench"\n')
        try:
            server = Authgate(bench, Store("memory", "memory://"), "gateway", extra)
        except Skip as exc:
            bench.rows.append(routed)
            bench.skip(routed, f"gateway not available: {exc}")
            bench.cases_left -= 1
            return
        with started(server.process):
            try:
                server.ready()
                token = server.access_token()
                status, body = call(server.port, "GET", "/api/bench", bearer=token)
                if status != 200:
                    raise Skip(f"gateway not available: GET /api/bench answered {status}: "
                               f"{brief(body)}")
            except Skip as exc:
                bench.rows.append(routed)
                bench.skip(routed, str(exc))
                bench.cases_left -= 1
                return
            bench.measure(routed, server.process, "gateway.lua", server.port,
                          {"BENCH_PATH": "/api/bench", "BENCH_TOKEN": token})
            routed.note = (routed.note + "; " if routed.note else "") + (
                "upstream shares core 0")


# report


def add_ratios(rows: list[Row]) -> None:
    peer = {r.endpoint: r.rps for r in rows if r.server == "peer" and r.rps}
    direct = next((r.rps for r in rows if r.server == "upstream" and r.rps), None)
    for row in rows:
        if row.server == "authgate" and row.rps:
            base = direct if row.endpoint == "gateway GET" else peer.get(row.endpoint)
            if base:
                row.ratio = round(row.rps / base, 2)


def table(rows: list[Row]) -> str:
    head = ("| endpoint | server | store | req/s | p50 ms | p99 ms | authgate/peer "
            "| peak RSS MB | note |")
    lines = [head, "|" + "---|" * 9]
    for r in rows:
        def show(value: Any) -> str:
            return "" if value is None else f"{value:g}" if isinstance(value, float) else str(value)
        lines.append(f"| {r.endpoint} | {r.server} | {r.store} | {show(r.rps)} | "
                     f"{show(r.p50_ms)} | {show(r.p99_ms)} | {show(r.ratio)} | "
                     f"{show(r.peak_rss_mb)} | {r.note} |")
    return "\n".join(lines)


def versions() -> dict[str, str]:
    def out(argv: list[str]) -> str:
        with contextlib.suppress(Exception):
            done = subprocess.run(argv, capture_output=True, text=True, timeout=10, cwd=ROOT,
                                  check=False)
            return (done.stdout or done.stderr).strip().splitlines()[0]
        return ""
    cpu = next((line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.machine())
    return {"python": platform.python_version(), "node": out(["node", "--version"]),
            "wrk": out(["wrk", "--version"]), "commit": out(["git", "rev-parse", "HEAD"]),
            "cpu": cpu, "cores": str(os.cpu_count()), "kernel": platform.release()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true",
                        help="1 run of 1 s, memory store, authgate only (for the tests)")
    parser.add_argument("--stores", default="memory,sqlite,postgresql,redis")
    parser.add_argument("--no-peer", action="store_true")
    parser.add_argument("--no-gateway", action="store_true")
    parser.add_argument("--duration", type=float,
                        default=float(os.environ.get("BENCH_DURATION", "10")))
    parser.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", "3")))
    parser.add_argument("--budget", type=float,
                        default=float(os.environ.get("BENCH_BUDGET", "570")))
    parser.add_argument("--out", type=Path, help="JSON file (default: bench/results/...)")
    args = parser.parse_args(argv)
    # A TERM (timeout, CI) unwinds like Ctrl-C, so every started process is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.smoke:
        args.duration, args.runs, args.stores = 1, 1, "memory"
        args.no_peer = args.no_gateway = True
    ensure_wrk()
    if not args.no_peer:
        ensure_peer()
    bench = Bench(args)
    load_before = os.getloadavg()
    chosen = stores([s.strip() for s in args.stores.split(",") if s.strip()])
    usable = [s for s in chosen if isinstance(s, Store)]
    for entry in chosen:
        if not isinstance(entry, Store):
            row = Row("(all)", "authgate", entry[0])
            bench.rows.append(row)
            bench.skip(row, f"store does not open: {entry[1]}")
    bench.plan((0 if args.no_peer else 3) + 4 * len(usable) + (0 if args.no_gateway else 2))
    log(f"{args.runs} run(s) of {args.duration:g} s per case; work files in {bench.work}")
    try:
        if not args.no_peer:
            peer_cases(bench)
        for store in usable:
            authgate_store_cases(bench, store)
        if not args.no_gateway:
            gateway_cases(bench)
    finally:
        for store in usable:
            if store.cleanup:
                with contextlib.suppress(Exception):
                    store.cleanup()
        shutil.rmtree(bench.work, ignore_errors=True)
    add_ratios(bench.rows)
    report = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": " ".join([Path(sys.argv[0]).name, *(argv or sys.argv[1:])]),
        "settings": {"duration_s": args.duration, "runs": args.runs,
                     "connections": CONNECTIONS, "wrk_threads": 1, "server_cpu": SERVER_CPU,
                     "wrk_cpu": LOAD_CPU},
        "load_average_before": load_before, "load_average_after": os.getloadavg(),
        "elapsed_s": round(time.monotonic() - bench.started, 1),
        "versions": versions(),
        "rows": [asdict(r) for r in bench.rows],
    }
    out = args.out or RESULTS / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(table(bench.rows))
    print(f"\n{report['elapsed_s']} s; load average before {load_before[0]:.2f}, after "
          f"{report['load_average_after'][0]:.2f}; JSON: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
