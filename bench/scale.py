"""How cost grows with live tokens (issue 15): "introspection and client_credentials with
1,000,000 and 10,000,000 live SQLite tokens each at least 0.8x the figure with 10,000;
PostgreSQL with 1,000,000 too". Run: `make bench-scale`.

Each size gets its own token store, filled before any server starts: SQLite files (copies of
one migrated registry with one client registered with `authgate client create --introspect`)
written with stdlib sqlite3 in big transactions, and one fresh PostgreSQL database per size
(`authgate migrate`, then COPY), dropped afterwards. The rows are those `put` writes for a
client_credentials access token: the record JSON of one minted token with each row's own
rising grant id, and keys that are the SHA-256 digests of distinct random tokens of authgate's
length and alphabet; a random sample of the raw tokens is kept for the load. The rows expire
in six hours, so that the tokens client_credentials issues during the run (one hour) can be
told apart and deleted after each phase: every store keeps its size from round to round.

Then one `authgate serve` per store (one worker, core 0) and, in rounds taking turns (the
order reversed every other round), wrk on core 1: random sample tokens introspected, then
client_credentials issued, BENCH_DURATION seconds each. The table gives each store's median
req/s over the rounds, the spread, the ratio to the smallest size of the same store, and the
worker's memory from /proc. `--base-src DIR` also serves every store with the `src/` of
another checkout, taking turns with this one: an A/B on the same data. `--cold` drops each
SQLite file from the kernel's page cache before each phase, as its reclaim does over time to
a large file read at random: the phase starts with the store on the disk.

    .venv/bin/python bench/scale.py [--sizes 10000,1000000,10000000]
        [--postgres-sizes 10000,1000000] [--rounds 3] [--duration 10] [--sample 10000]
        [--base-src DIR] [--cold] [--work-dir DIR] [--smoke] [--out FILE]

BENCH_POSTGRES_URL names the PostgreSQL server (default postgresql://postgres@127.0.0.1:5432/
authgate_scale): the databases are `<its name>_<size>`. BENCH_SCALE_DIR: where the SQLite
files go (default the temporary directory); all are removed afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import os
import random
import secrets
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
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
    clean_env,
    ensure_wrk,
    free_port,
    log,
    versions,
    wait_ready,
    wrk,
)
from memory import INTROSPECT_RANDOM_LUA, active, bulk_connect, proc_status
from targets import Store, authgate_cli, write_config

from authgate.config import TokenSettings
from authgate.models import Client
from authgate.tokens import generate_token, mint, new_grant

CHUNK = 100_000  # rows per transaction (SQLite) or per COPY (PostgreSQL)
EXPIRY = 6 * 3600  # seconds the filled tokens live; issued ones live TokenSettings' hour
BYTES_PER_ROW = 700  # a generous estimate of one row with its indexes, to check the disk
POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/authgate_scale"
COLUMNS = ("token_key", "kind", "grant_id", "client_id", "expires_at", "consumed", "data")
SQLITE_INSERT = (
    "INSERT INTO tokens (token_key, kind, grant_id, client_id, expires_at, consumed, data, "
    "username) VALUES (?, ?, ?, ?, ?, 0, ?, NULL)"
)


# the rows


@dataclass
class Template:
    """One minted client_credentials access token, its JSON split around the grant id."""

    client_id: str
    expires_at: int
    length: int
    before: str
    after: str

    @classmethod
    def mint(cls, client_id: str) -> Template:
        settings = TokenSettings(access_token_expiry=EXPIRY)
        record = mint(
            new_grant(client_id, (SCOPE,), subject=client_id),
            settings,
            client=Client(client_id, "bench", None),
            with_refresh=False,
        ).access.record
        data = record.to_json()
        assert data.count(record.grant_id) == 1
        before, _, after = data.partition(record.grant_id)
        return cls(client_id, record.expires_at, settings.access_token_length, before, after)


def minted(template: Template, count: int, sample: int) -> Iterator[tuple[list[Any], list[str]]]:
    """Chunks of (key, grant id, data) for `count` tokens, and the chunk's sampled raw values.

    One random string per chunk is cut into the tokens; a grant id is the time in ms, as
    authgate's, then 80 random bits."""
    chosen = set(random.sample(range(count), min(sample, count)))
    length = template.length
    done = 0
    while done < count:
        n = min(CHUNK, count - done)
        raw = generate_token(length * n)
        noise = secrets.token_hex(10 * n)
        ms = f"{time.time_ns() // 1_000_000:012x}"
        rows, kept = [], []
        for i in range(n):
            value = raw[i * length : (i + 1) * length]
            grant = ms + noise[i * 20 : (i + 1) * 20]
            key = hashlib.sha256(value.encode()).hexdigest()
            rows.append((key, grant, template.before + grant + template.after))
            if done + i in chosen:
                kept.append(value)
        done += n
        yield rows, kept


def fill_sqlite(path: Path, template: Template, count: int, sample: int) -> list[str]:
    conn = bulk_connect(path)
    conn.execute("PRAGMA cache_size=-1048576")  # 1 GiB in this process: the keys are random
    values: list[str] = []
    t, c, e = "access_token", template.client_id, template.expires_at
    try:
        for rows, kept in minted(template, count, sample):
            conn.execute("BEGIN")
            conn.executemany(SQLITE_INSERT, [(k, t, g, c, e, d) for k, g, d in rows])
            conn.execute("COMMIT")
            values += kept
        conn.execute("PRAGMA journal_mode=WAL")
    finally:
        conn.close()
    return values


def pg_dsn(url: str, database: str | None = None) -> str:
    base = url.split("://", 1)[1]
    server, _, name = base.rpartition("/")
    return f"postgresql://{server}/{database or name}"


async def pg_admin(url: str, *statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(pg_dsn(url, "postgres"), timeout=10)
    try:
        for sql in statements:
            await conn.execute(sql)
    finally:
        await conn.close()


async def fill_postgres(url: str, template: Template, count: int, sample: int) -> list[str]:
    import asyncpg

    conn = await asyncpg.connect(pg_dsn(url), timeout=10)
    values: list[str] = []
    t, c, e = "access_token", template.client_id, template.expires_at
    try:
        for rows, kept in minted(template, count, sample):
            records = [(k, t, g, c, e, False, d) for k, g, d in rows]
            await conn.copy_records_to_table("tokens", records=records, columns=COLUMNS)
            values += kept
        # What autovacuum would have done for a table grown over time: statistics, and the
        # visibility map set.
        await conn.execute("VACUUM ANALYZE tokens")
    finally:
        await conn.close()
    return values


# the stores and their servers


@dataclass
class Target:
    store: str  # "sqlite" or "postgresql"
    size: int
    directory: Path
    url: str  # PostgreSQL URL, or "" for the SQLite file in directory
    pool: Path
    variant: str = "this"  # or "base" with --base-src
    fill_s: float = 0.0
    db_mb: float = 0.0
    process: Process | None = None
    port: int = 0
    tokens_at_end: int = 0
    runs: list[dict[str, Any]] = field(default_factory=list)
    memory: list[dict[str, float]] = field(default_factory=list)

    @property
    def label(self) -> str:
        tag = "" if self.variant == "this" else f" ({self.variant})"
        return f"{self.store} {self.size:,}{tag}"

    def sql(self, statement: str) -> int:
        """Run one statement on the store from outside the server; its row count or value."""
        if self.url:

            async def run() -> int:
                import asyncpg

                conn = await asyncpg.connect(pg_dsn(self.url), timeout=10)
                try:
                    if statement.startswith("SELECT"):
                        return int(await conn.fetchval(statement))
                    return int((await conn.execute(statement)).rsplit(" ", 1)[-1])
                finally:
                    await conn.close()

            return asyncio.run(run())
        conn = sqlite3.connect(self.directory / "authgate.db", isolation_level=None, timeout=30)
        try:
            cursor = conn.execute(statement)
            return int(cursor.fetchone()[0]) if statement.startswith("SELECT") else cursor.rowcount
        finally:
            conn.close()


def start(target: Target, base_src: Path | None) -> None:
    target.port = free_port()
    argv = ["taskset", "-c", SERVER_CPU, str(BIN / "authgate")]
    argv += ["--config", str(target.directory / "authgate.toml"), "serve"]
    argv += ["--port", str(target.port)]
    env = clean_env(PYTHONPATH=str(base_src)) if target.variant == "base" else clean_env()
    logfile = target.directory / f"server-{target.variant}.log"
    target.process = Process(
        f"authgate-{target.label}", argv, cwd=target.directory, env=env, logfile=logfile
    )
    wait_ready(target.process, target.port, "/healthz", timeout=120)


def prepare(work: Path) -> tuple[Path, str, str]:
    """One migrated registry with the registered client: (its directory, client id, basic)."""
    registry = work / "registry"
    registry.mkdir()
    config = write_config(registry, Store("sqlite", ""))
    authgate_cli(config, "migrate")
    created = json.loads(
        authgate_cli(
            config,
            *("client", "create", "--name", "bench-scale", "--scope", SCOPE),
            *("--grant-type", "client_credentials", "--introspect", "--json"),
        )
    )
    client_id, secret = created["client_id"], created["client_secret"]
    basic = base64.b64encode(
        f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
    ).decode()
    return registry, client_id, basic


def copy_registry(registry: Path, directory: Path) -> None:
    directory.mkdir()
    conn = sqlite3.connect(registry / "authgate.db")
    try:
        conn.execute("VACUUM INTO ?", (str(directory / "authgate.db"),))
    finally:
        conn.close()


def build(
    args: argparse.Namespace, work: Path, sqlite_dir: Path, notes: list[str]
) -> tuple[list[Target], str, list[Callable[[], None]]]:
    registry, client_id, basic = prepare(work)
    template = Template.mint(client_id)
    targets: list[Target] = []
    cleanups: list[Callable[[], None]] = []
    pg_url = os.environ.get("BENCH_POSTGRES_URL", POSTGRES_URL)
    for store, sizes in (("sqlite", args.sizes), ("postgresql", args.postgres_sizes)):
        for size in sizes:
            directory = (sqlite_dir if store == "sqlite" else work) / f"{store}-{size}"
            url = ""
            try:
                if store == "sqlite":
                    free = shutil.disk_usage(sqlite_dir).free
                    if free < 2 * size * BYTES_PER_ROW:
                        raise Skip(f"{free / 2**30:.0f} GiB free in {sqlite_dir}: too little")
                copy_registry(registry, directory)
                if store == "postgresql":
                    name = pg_dsn(pg_url).rsplit("/", 1)[1] + f"_{size}"
                    drop = f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    asyncio.run(pg_admin(pg_url, drop, f"CREATE DATABASE {name}"))
                    cleanups.append(dropper(pg_url, drop))
                    url = pg_dsn(pg_url, name)
                config = write_config(directory, Store(store, url))
                if url:
                    authgate_cli(config, "migrate")
                log(f"filling {size:,} tokens into {store} ({url or directory})")
                t0 = time.monotonic()
                if store == "sqlite":
                    values = fill_sqlite(directory / "authgate.db", template, size, args.sample)
                else:
                    values = asyncio.run(fill_postgres(url, template, size, args.sample))
                fill_s = round(time.monotonic() - t0, 1)
            except Exception as exc:  # a store that cannot be had here is a note, not a stop
                notes.append(f"{store} {size:,}: {type(exc).__name__}: {exc}"[:300])
                log(f"skip {store} {size:,}: {exc}")
                continue
            pool = directory / "sample.txt"
            pool.write_text("".join(v + "\n" for v in values))
            for variant in ("this", "base") if args.base_src else ("this",):
                target = Target(store, size, directory, url, pool, variant, fill_s)
                target.db_mb = db_mb(target)
                targets.append(target)
            log(f"filled {size:,} in {fill_s} s, {targets[-1].db_mb:,} MB")
    return targets, basic, cleanups


def dropper(url: str, drop: str) -> Callable[[], None]:
    return lambda: asyncio.run(pg_admin(url, drop))


def db_mb(target: Target) -> float:
    if target.url:
        return round(target.sql("SELECT pg_database_size(current_database())") / 2**20, 1)
    return round((target.directory / "authgate.db").stat().st_size / 2**20, 1)


# the load


def phase(target: Target, name: str, lua: Path, basic: str, duration: float, turn: int) -> None:
    script = str(lua) if name == "introspection" else "client_credentials.lua"
    env = {"BENCH_BASIC": basic, "BENCH_SCOPE": SCOPE, "BENCH_POOL": str(target.pool)}
    run = wrk(script, target.port, duration, env)
    assert target.process is not None
    status = proc_status(target.process.pid)
    target.runs.append(
        {"round": turn, "phase": name, "rps": run.rps, "p99_ms": run.p99_ms, "errors": run.errors}
    )
    target.memory.append(status)
    log(f"round {turn} {target.label:28} {name:18} {run.rps:8.1f} req/s  {status['VmRSS']} MB")


def measure(targets: list[Target], basic: str, lua: Path, args: argparse.Namespace) -> None:
    for target in targets:
        start(target, args.base_src)
    for target in targets:
        probes = random.sample(target.pool.read_text().split(), 20)
        if not all(active(target.port, basic, t) for t in probes):
            raise Skip(f"{target.label}: a sample token is not active at the server")
    for turn in range(1, args.rounds + 1):
        for target in targets if turn % 2 else targets[::-1]:
            for name in ("introspection", "client_credentials"):
                if args.cold and not target.url:
                    forget_pages(target.directory / "authgate.db")
                phase(target, name, lua, basic, args.duration, turn)
            # The tokens issued in this run expire in an hour, the filled ones in six. The
            # answers still in flight when wrk stopped are written first.
            time.sleep(0.5)
            cutoff = int(time.time()) + EXPIRY // 2
            target.sql(f"DELETE FROM tokens WHERE expires_at < {cutoff}")  # noqa: S608
    for target in targets:
        target.memory.append(proc_status(target.process.pid) if target.process else {})
        target.tokens_at_end = target.sql("SELECT count(*) FROM tokens")


def forget_pages(path: Path) -> None:
    """Have the kernel drop the file's pages from its cache (written back first), as its
    reclaim does to a file seldom read: the store's next reads go to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


# report


def summary(targets: list[Target]) -> list[dict[str, Any]]:
    rows = []
    for t in targets:
        row: dict[str, Any] = {
            "store": t.store,
            "variant": t.variant,
            "tokens": t.size,
            "fill_s": t.fill_s,
            "db_mb": t.db_mb,
            "tokens_at_end": t.tokens_at_end,
            "VmRSS": t.memory[-1].get("VmRSS"),
            "VmHWM": t.memory[-1].get("VmHWM"),
            "RssFile": t.memory[-1].get("RssFile"),
        }
        for name in ("introspection", "client_credentials"):
            figures = [r["rps"] for r in t.runs if r["phase"] == name]
            row[name] = round(statistics.median(figures), 1) if figures else None
            row[f"{name}_runs"] = figures
        rows.append(row)
    for row in rows:
        base = min(
            (r for r in rows if (r["store"], r["variant"]) == (row["store"], row["variant"])),
            key=lambda r: r["tokens"],
        )
        for name in ("introspection", "client_credentials"):
            ok = row[name] and base[name]
            row[f"{name}_ratio"] = round(row[name] / base[name], 2) if ok else None
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    def cell(row: dict[str, Any], name: str) -> str:
        runs = row[f"{name}_runs"]
        if not runs:
            return "- | -"
        return (
            f"{row[name]:,.0f} ({min(runs):,.0f} to {max(runs):,.0f}) | {row[f'{name}_ratio']:.2f}"
        )

    lines = [
        "| store | live tokens | introspection req/s median (min to max) | ratio "
        "| client_credentials req/s median (min to max) | ratio | VmRSS MB | VmHWM MB "
        "| RssFile MB | database MB | fill s |",
        "|" + "---|" * 11,
    ]
    for r in rows:
        store = r["store"] + ("" if r["variant"] == "this" else f" ({r['variant']})")
        lines.append(
            f"| {store} | {r['tokens']:,} | {cell(r, 'introspection')} | "
            f"{cell(r, 'client_credentials')} | {r['VmRSS']} | {r['VmHWM']} | {r['RssFile']} | "
            f"{r['db_mb']:,} | {r['fill_s']} |"
        )
    return "\n".join(lines)


def sizes(text: str) -> list[int]:
    return [int(s.replace("_", "")) for s in text.split(",") if s.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=sizes, default=sizes("10000,1000000,10000000"))
    parser.add_argument("--postgres-sizes", type=sizes, default=sizes("10000,1000000"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--duration", type=float, default=float(os.environ.get("BENCH_DURATION", "10"))
    )
    parser.add_argument("--sample", type=int, default=10_000)
    parser.add_argument("--base-src", type=Path, help="also serve with this src/ (an A/B)")
    parser.add_argument(
        "--cold", action="store_true", help="drop each SQLite file from the page cache first"
    )
    parser.add_argument("--smoke", action="store_true", help="SQLite 2,000 and 20,000, 1 round")
    parser.add_argument("--out", type=Path, help="JSON file (default: bench/results/...)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.sizes, args.postgres_sizes, args.rounds = [2_000, 20_000], [], 1
        args.duration, args.sample = 1.0, 2_000

    started_at = time.monotonic()
    load_before = os.getloadavg()
    ensure_wrk()
    work = Path(tempfile.mkdtemp(prefix="authgate-scale-"))
    sqlite_dir = Path(
        tempfile.mkdtemp(prefix="authgate-scale-", dir=os.environ.get("BENCH_SCALE_DIR"))
    )
    notes: list[str] = []
    cleanups: list[Callable[[], None]] = []
    targets: list[Target] = []
    try:
        targets, basic, cleanups = build(args, work, sqlite_dir, notes)
        lua = work / "introspect_random.lua"
        lua.write_text(INTROSPECT_RANDOM_LUA)
        try:
            measure(targets, basic, lua, args)
        finally:
            for target in targets:
                if target.process is not None:
                    target.process.stop()
    finally:
        for cleanup in cleanups:
            with contextlib.suppress(Exception):
                cleanup()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(sqlite_dir, ignore_errors=True)

    rows = summary(targets)
    load_after = os.getloadavg()
    elapsed = round(time.monotonic() - started_at, 1)
    print(table(rows))
    print()
    print(
        f"{args.rounds} rounds of {args.duration:g} s per phase; whole run {elapsed} s; "
        f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after."
    )
    for note in notes:
        print(f"note: {note}")
    report = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "elapsed_s": elapsed,
        "load_average_before": load_before,
        "load_average_after": load_after,
        "rows": rows,
        "runs": {t.label: t.runs for t in targets},
        "memory": {t.label: t.memory for t in targets},
        "notes": notes,
        "versions": versions(),
    }
    out = args.out or RESULTS / f"scale-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    log(f"wrote {out}")
    return 0 if rows and not notes else 1


if __name__ == "__main__":
    sys.exit(main())
