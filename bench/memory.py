"""Memory per worker (issue 6): "≤ 80 MB RSS per worker after 1 million live tokens in the
SQLite store; the memory store states its bytes per token". Run: `make bench-memory`.

SQLite: a fresh database (`authgate migrate`, one client registered with `authgate client
create --introspect`) gets 1,000,000 live access tokens, minted with authgate's own
`mint(new_grant(...))` and written with stdlib sqlite3 in big transactions, the rows
`SqliteStore.put` would write. A random sample of their raw values is kept for the load. A
copy of the same database holding only the sample is the baseline. For each database one
`authgate serve` (one worker, core 0) is read from /proc/PID/status when idle, after wrk
(core 1) introspects random sample tokens for BENCH_DURATION seconds, and after as long of
client_credentials issuance.

Memory store: in a fresh interpreter each, N access + refresh pairs go into
`authgate.stores.MemoryStore` as the flows put them (`mint(new_grant(...), TokenSettings(),
with_refresh=True).entries`); tracemalloc counts the bytes the store keeps, and a second run
without tracemalloc gives the RSS delta as a cross-check.

Loopback only; every process is stopped by its PID; the databases live in a temporary
directory removed afterwards. The table goes to stdout, the JSON to bench/results/.

    .venv/bin/python bench/memory.py [--tokens 1000000] [--sample 20000] [--duration 10]
                                     [--pairs 200000] [--smoke] [--out FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import gc
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from harness import (
    BIN,
    RESULTS,
    SCOPE,
    SERVER_CPU,
    Process,
    Skip,
    call,
    clean_env,
    ensure_wrk,
    free_port,
    log,
    started,
    versions,
    wait_ready,
    wrk,
)
from targets import Store, authgate_cli, write_config

from authgate.config import TokenSettings
from authgate.models import Client
from authgate.scopes import parse_scope
from authgate.stores import MemoryStore
from authgate.tokens import mint, new_grant

CHUNK = 100_000  # rows per transaction when filling the database
TARGET_MB = 80.0

INTROSPECT_RANDOM_LUA = """\
-- POST /oauth2/introspect for a random token of BENCH_POOL on every request (written by
-- bench/memory.py; tokens are reused, introspection does not spend them).
local bench = dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")
local requests = {}

function init(args)
  for line in io.lines(bench.env("BENCH_POOL")) do
    if #line > 0 then
      requests[#requests + 1] = bench.form_post("/oauth2/introspect",
        "token=" .. line .. "&token_type_hint=access_token")
    end
  end
  math.randomseed(os.time())
end

function request() return requests[math.random(#requests)] end

done = bench.done
"""


# /proc


def proc_status(pid: int | str = "self") -> dict[str, float]:
    """VmRSS, VmHWM, RssAnon, RssFile (MB) and Threads of a process."""
    wanted = ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem", "Threads")
    found: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in wanted:
            number = int(value.split()[0])
            found[name] = number if name == "Threads" else round(number / 1024, 1)
    return found


def children(pid: int) -> list[int]:
    with contextlib.suppress(OSError):
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return []


# the SQLite database


def token_row(client_id: str, settings: TokenSettings) -> tuple[str, tuple[Any, ...]]:
    """One access token as client_credentials issues it: (raw value, tokens-table row)."""
    access = mint(
        new_grant(client_id, (SCOPE,), subject=client_id),
        settings,
        client=Client(client_id, "bench", None),
        with_refresh=False,
    ).access
    r = access.record
    return access.value, (access.key, r.kind, r.grant_id, r.client_id, r.expires_at, r.to_json())


INSERT = (
    "INSERT INTO tokens (token_key, kind, grant_id, client_id, expires_at, consumed, "
    "data) VALUES (?, ?, ?, ?, ?, 0, ?)"
)


def bulk_connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    # A bulk load into a file nobody else has open: no journal, no fsync, a large cache (in
    # this process, not the server's). WAL is set back afterwards, as the server expects.
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-524288")
    return conn


def fill(
    path: Path,
    client_id: str,
    count: int,
    sample_size: int,
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """`count` live access tokens into the tokens table; returns a random sample of them
    (raw values and rows)."""
    chosen = set(random.sample(range(count), min(sample_size, count)))
    values: list[str] = []
    rows_kept: list[tuple[Any, ...]] = []
    settings = TokenSettings()
    conn = bulk_connect(path)
    try:
        done = 0
        while done < count:
            rows = []
            for index in range(done, min(done + CHUNK, count)):
                value, row = token_row(client_id, settings)
                rows.append(row)
                if index in chosen:
                    values.append(value)
                    rows_kept.append(row)
            conn.execute("BEGIN")
            conn.executemany(INSERT, rows)
            conn.execute("COMMIT")
            done += len(rows)
        conn.execute("PRAGMA journal_mode=WAL")
    finally:
        conn.close()
    return values, rows_kept


def count_tokens(path: Path) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        return int(conn.execute("SELECT count(*) FROM tokens").fetchone()[0])
    finally:
        conn.close()


# the server under load


def active(port: int, basic: str, token: str) -> bool:
    status, body = call(
        port,
        "POST",
        "/oauth2/introspect",
        basic=basic,
        form={"token": token, "token_type_hint": "access_token"},
    )
    return status == 200 and isinstance(body, dict) and body.get("active") is True


def measure_server(
    label: str,
    directory: Path,
    basic: str,
    pool: Path,
    lua: Path,
    duration: float,
    deadline: float,
    rows: list[dict[str, Any]],
) -> None:
    """Start `authgate serve` on the database in `directory`; its memory idle and after each
    load phase, appended to `rows` as they are read."""
    db = directory / "authgate.db"
    port = free_port()
    argv = [
        "taskset",
        "-c",
        SERVER_CPU,
        str(BIN / "authgate"),
        "--config",
        str(directory / "authgate.toml"),
        "serve",
        "--port",
        str(port),
    ]
    process = Process(
        f"authgate-{label}", argv, cwd=directory, env=clean_env(), logfile=directory / "server.log"
    )
    sample = pool.read_text().split()
    env = {"BENCH_BASIC": basic, "BENCH_SCOPE": SCOPE, "BENCH_POOL": str(pool)}

    def record(state: str, **extra: Any) -> None:
        extra_pids = children(process.pid)
        if extra_pids:
            log(f"note: server {process.pid} has child processes {extra_pids}")
        row = {
            "store": label,
            "state": state,
            **proc_status(process.pid),
            "tokens": count_tokens(db),
            **extra,
        }
        rows.append(row)
        log(
            f"{label:14} {state:34} VmRSS {row['VmRSS']:6} MB  VmHWM {row['VmHWM']:6} MB  "
            f"tokens {row['tokens']}"
        )

    with started(process):
        wait_ready(process, port, "/healthz", timeout=60)
        time.sleep(1.0)  # let start-up work settle
        record("started (only /healthz answered)")
        probes = random.sample(sample, min(20, len(sample)))
        if not all(active(port, basic, t) for t in probes):
            raise Skip(f"{label}: a sample token is not active at the server")
        record("idle (after 20 introspections)")
        # The Lua path is absolute: wrk() joins it onto bench/wrk/, which leaves it as it is.
        for name, script in (
            ("introspection", str(lua)),
            ("client_credentials", "client_credentials.lua"),
        ):
            if time.monotonic() + duration + 15 > deadline:
                log(f"skip {name} on {label}: out of time budget")
                continue
            run = wrk(script, port, duration, env)
            record(
                f"after {duration:g} s {name}",
                rps=run.rps,
                requests=run.requests,
                errors=run.errors,
            )
        if not all(active(port, basic, t) for t in probes):
            raise Skip(f"{label}: a sample token stopped being active")


# the memory store (run in a fresh interpreter: `memory.py --memory-store-child ...`)


def memory_store_child(pairs: int, fresh: bool, trace: bool) -> dict[str, Any]:
    import tracemalloc

    settings = TokenSettings()
    client_id = "c" + "0" * 23
    client = Client(client_id, "bench", None)
    scopes = parse_scope(SCOPE)
    store = MemoryStore(max_entries=max(2 * pairs, 1))
    # Warm-up outside the measurement: first-use allocations (caches, interned names).
    warm = MemoryStore()
    asyncio.run(
        warm.put(
            mint(
                new_grant(client_id, scopes, subject=client_id),
                settings,
                client=client,
                with_refresh=True,
            ).entries
        )
    )
    del warm
    gc.collect()
    if trace:
        tracemalloc.start()
    before_rss = proc_status()["VmRSS"]
    before = tracemalloc.get_traced_memory()[0] if trace else 0

    async def fill_store() -> None:
        for _ in range(pairs):
            if fresh:
                # What a request without the client cache holds: the client id read from the
                # registry and the scopes parsed from the form, new objects per request.
                cid = client_id.encode().decode()
                grant_scopes = parse_scope(SCOPE.encode().decode())
            else:
                cid, grant_scopes = client_id, scopes
            await store.put(
                mint(
                    new_grant(cid, grant_scopes, subject=cid),
                    settings,
                    client=client,
                    with_refresh=True,
                ).entries
            )

    asyncio.run(fill_store())
    gc.collect()
    result: dict[str, Any] = {
        "pairs": pairs,
        "records": len(store._records),
        "fresh_objects": fresh,
    }
    if trace:
        kept = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        result.update(
            method="tracemalloc",
            bytes=kept,
            bytes_per_record=round(kept / (2 * pairs), 1),
            bytes_per_pair=round(kept / pairs, 1),
        )
    else:
        grown = (proc_status()["VmRSS"] - before_rss) * 1024 * 1024
        result.update(
            method="RSS delta",
            bytes=round(grown),
            bytes_per_record=round(grown / (2 * pairs), 1),
            bytes_per_pair=round(grown / pairs, 1),
        )
    return result


def measure_memory_store(pairs: int) -> list[dict[str, Any]]:
    results = []
    for fresh in (False, True):
        for trace in (True, False):
            argv = [sys.executable, __file__, "--memory-store-child", str(pairs)]
            argv += ["--fresh"] if fresh else []
            argv += ["--trace"] if trace else []
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=180, check=False, env=clean_env()
            )
            if done.returncode != 0:
                raise RuntimeError(f"memory store child failed: {done.stderr[-500:]}")
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
            r = results[-1]
            log(
                f"memory store {'fresh' if fresh else 'shared'} ids, {r['method']}: "
                f"{r['bytes_per_record']} B/record, {r['bytes_per_pair']} B/pair"
            )
    return results


# the floor


# What `authgate serve` imports before it answers, in order. Not jinja2, prometheus_client,
# joserfc or cryptography: a worker loads them with its first page, scrape or key
# (tests/unit/test_layout.py); nor httpx, the `demo` extra.
FLOOR_IMPORTS = (
    "asyncio",
    "pydantic",
    "authgate.config",
    "sqlalchemy",
    "sqlalchemy.ext.asyncio",
    "aiosqlite",
    "starlette.applications",
    "argon2",
    "authgate.app",
    "uvicorn",
    "authgate.server",
    "authgate.cli",
)

FLOOR_CHILD = """\
import importlib, json, pathlib, sys
def rss():
    text = pathlib.Path('/proc/self/status').read_text()
    return {l.split(':')[0]: int(l.split()[1]) for l in text.splitlines()
            if l.startswith(('VmRSS', 'RssAnon', 'RssFile'))}
rows = [dict(rss(), what='python (bare interpreter)')]
for name in sys.argv[1:]:
    importlib.import_module(name)
    rows.append(dict(rss(), what='+ import ' + name))
print(json.dumps(rows))
"""


def import_floor() -> list[dict[str, Any]]:
    """RSS of a fresh interpreter, then after each of the imports a worker makes, in order
    (each row includes the ones above it)."""
    done = subprocess.run(
        [sys.executable, "-c", FLOOR_CHILD, *FLOOR_IMPORTS],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=clean_env(),
    )
    if done.returncode != 0:
        log(f"import floor failed: {done.stderr[-300:]}")
        return []
    rows = [
        {k: (round(v / 1024, 1) if k != "what" else v) for k, v in r.items()}
        for r in json.loads(done.stdout)
    ]
    log(
        f"import floor: {rows[0]['VmRSS']} MB bare, {rows[-1]['VmRSS']} MB with {FLOOR_IMPORTS[-1]}"
    )
    return rows


# report


def server_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| store | state | VmRSS MB | VmHWM MB | RssAnon MB | RssFile MB | threads "
        "| tokens in store | req/s |",
        "|" + "---|" * 9,
    ]
    for r in rows:
        lines.append(
            f"| {r['store']} | {r['state']} | {r['VmRSS']:g} | {r['VmHWM']:g} | "
            f"{r.get('RssAnon', 0):g} | {r.get('RssFile', 0):g} | "
            f"{r.get('Threads', '')} | {r['tokens']:,} | {r.get('rps', '')} |"
        )
    return "\n".join(lines)


def memory_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| client id and scopes | method | pairs | bytes per record | bytes per pair "
        "| MB at 1,000,000 records |",
        "|" + "---|" * 6,
    ]
    for r in rows:
        ids = "new per request (no client cache)" if r["fresh_objects"] else "shared"
        lines.append(
            f"| {ids} | {r['method']} | {r['pairs']:,} | {r['bytes_per_record']:g} | "
            f"{r['bytes_per_pair']:g} | {r['bytes_per_record'] * 1e6 / 2**20:.0f} |"
        )
    return "\n".join(lines)


def floor_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| interpreter, imports cumulative | VmRSS MB | + MB | RssAnon MB | RssFile MB |",
        "|---|---|---|---|---|",
    ]
    previous = None
    for r in rows:
        step = "" if previous is None else f"{r['VmRSS'] - previous:+.1f}"
        previous = r["VmRSS"]
        lines.append(
            f"| {r['what']} | {r['VmRSS']:g} | {step} | {r['RssAnon']:g} | {r['RssFile']:g} |"
        )
    return "\n".join(lines)


def prepare(work: Path) -> tuple[Path, Path, str, str]:
    """The big and the small database, both migrated with the same registered client."""
    big, small = work / "large", work / "small"
    big.mkdir()
    small.mkdir()
    config = write_config(big, Store("sqlite", ""))
    authgate_cli(config, "migrate")
    created = json.loads(
        authgate_cli(
            config,
            "client",
            "create",
            "--name",
            "bench-memory",
            "--scope",
            SCOPE,
            "--grant-type",
            "client_credentials",
            "--introspect",
            "--json",
        )
    )
    client_id, secret = created["client_id"], created["client_secret"]
    conn = sqlite3.connect(big / "authgate.db")
    try:
        conn.execute("VACUUM INTO ?", (str(small / "authgate.db"),))
    finally:
        conn.close()
    write_config(small, Store("sqlite", ""))
    basic = base64.b64encode(
        f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
    ).decode()
    return big, small, basic, client_id


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=20_000)
    parser.add_argument(
        "--duration", type=float, default=float(os.environ.get("BENCH_DURATION", "10"))
    )
    parser.add_argument("--pairs", type=int, default=200_000)
    parser.add_argument("--budget", type=float, default=230.0, help="seconds for the whole run")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="20,000 tokens, 1-second phases, 5,000 pairs (the smoke test)",
    )
    parser.add_argument("--out", type=Path, help="JSON file (default: bench/results/...)")
    parser.add_argument("--memory-store-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--fresh", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_store_child:
        print(json.dumps(memory_store_child(args.memory_store_child, args.fresh, args.trace)))
        return 0
    if args.smoke:
        args.tokens, args.sample, args.duration, args.pairs = 20_000, 2_000, 1.0, 5_000

    started_at = time.monotonic()
    deadline = started_at + args.budget
    load_before = os.getloadavg()
    ensure_wrk()
    work = Path(tempfile.mkdtemp(prefix="authgate-memory-"))
    servers: list[dict[str, Any]] = []
    notes: list[str] = []
    fill_seconds = None
    try:
        big, small, basic, client_id = prepare(work)
        log(f"filling {args.tokens:,} access tokens into {big / 'authgate.db'}")
        t0 = time.monotonic()
        values, rows = fill(big / "authgate.db", client_id, args.tokens, args.sample)
        conn = bulk_connect(small / "authgate.db")
        try:
            conn.execute("BEGIN")
            conn.executemany(INSERT, rows)
            conn.execute("COMMIT")
            conn.execute("PRAGMA journal_mode=WAL")
        finally:
            conn.close()
        fill_seconds = round(time.monotonic() - t0, 1)
        size_mb = round((big / "authgate.db").stat().st_size / 2**20, 1)
        log(f"filled in {fill_seconds} s, database {size_mb} MB")
        pool = work / "sample.txt"
        pool.write_text("".join(v + "\n" for v in values))
        lua = work / "introspect_random.lua"
        lua.write_text(INTROSPECT_RANDOM_LUA)
        for label, directory in (
            (f"sqlite {len(values):,}", small),
            (f"sqlite {args.tokens:,}", big),
        ):
            try:
                measure_server(label, directory, basic, pool, lua, args.duration, deadline, servers)
            except (Skip, RuntimeError, subprocess.TimeoutExpired) as exc:
                notes.append(f"{label}: {exc}")
                log(f"skip {label}: {exc}")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    memory: list[dict[str, Any]] = []
    if time.monotonic() + 60 < deadline:
        memory = measure_memory_store(args.pairs)
    else:
        notes.append("memory store skipped: out of time budget")
    floor = import_floor()

    worst = max(
        (r["VmHWM"] for r in servers if r["store"].endswith(f"{args.tokens:,}")), default=None
    )
    verdict = (
        "no result"
        if worst is None
        else f"peak {worst} MB: {'meets' if worst <= TARGET_MB else 'misses'} "
        f"the {TARGET_MB:g} MB target"
    )
    load_after = os.getloadavg()
    elapsed = round(time.monotonic() - started_at, 1)
    print(server_table(servers))
    print()
    print(memory_table(memory))
    print()
    print(floor_table(floor))
    print()
    print(
        f"SQLite with {args.tokens:,} tokens: {verdict}. Filled in {fill_seconds} s; "
        f"whole run {elapsed} s; load average {load_before[0]:.2f} before, "
        f"{load_after[0]:.2f} after."
    )
    for note in notes:
        print(f"note: {note}")
    report = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "args": {
            k: v for k, v in vars(args).items() if not k.startswith(("memory", "fresh", "trace"))
        }
        | {"out": str(args.out) if args.out else None},
        "target_mb": TARGET_MB,
        "verdict": verdict,
        "fill_seconds": fill_seconds,
        "elapsed_s": elapsed,
        "load_average_before": load_before,
        "load_average_after": load_after,
        "server": servers,
        "memory_store": memory,
        "import_floor": floor,
        "notes": notes,
        "versions": versions(),
    }
    out = args.out or RESULTS / f"memory-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    log(f"wrote {out}")
    return 0 if servers else 1


if __name__ == "__main__":
    sys.exit(main())
