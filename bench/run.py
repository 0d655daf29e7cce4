"""authgate against node-oidc-provider, with wrk, on this machine (issue 6). Run: `make bench`.

Each server under test runs pinned to core 0 (`taskset -c 0`), wrk on core 1
(`taskset -c 1 wrk -t1 -c16 -d10s --latency`), loopback only. Every endpoint gets
BENCH_RUNS runs (default 3) of BENCH_DURATION seconds (default 10); the table shows the median
run by requests/s, its p50 and p99, the ratio authgate/peer, and the peak RSS (VmHWM) of the
server process. The same rows go to bench/results/bench-<time>.json.

Single-use credentials (refresh tokens, authorization codes) are minted before the runs: a
1-second calibration run (which is also the warm-up) sizes one pool per run, each value used
once. The whole run keeps
within a time budget (BENCH_BUDGET seconds, default 570): when the remaining cases would not
fit, their runs are shortened and the table says so. Every process started here is stopped by
its PID on the way out.

    .venv/bin/python bench/run.py [--smoke] [--stores sqlite,memory,...] [--no-peer]
                                  [--no-gateway | --gateway-only] [--no-https]

`client_credentials (https)` is the client_credentials case again, on the first store, with
`serve` speaking HTTPS (a P-256 certificate, TLS 1.3): wrk keeps its connections open, so the
figure is the cost of encryption per request, handshakes aside.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import functools
import json
import os
import shutil
import signal
import sys
import time
from dataclasses import asdict
from pathlib import Path
from urllib.parse import quote

from harness import (
    BENCH,
    BIN,
    CONNECTIONS,
    LOAD_CPU,
    PEER_DIR,
    PEER_ENDPOINTS,
    REDIRECT_URI,
    RESULTS,
    SCOPE,
    SERVER_CPU,
    Bench,
    Process,
    Row,
    Skip,
    add_ratios,
    brief,
    call,
    clean_env,
    ensure_peer,
    ensure_wrk,
    free_port,
    log,
    started,
    table,
    versions,
    wait_ready,
    wrk,
)
from targets import Authgate, Store, grant_probe, stores

# the peer


def peer_cases(bench: Bench) -> None:
    basic = base64.b64encode(b"bench:bench-secret").decode()
    env = {"BENCH_BASIC": basic, "BENCH_SCOPE": SCOPE}
    rows = {e: Row(e, "peer", "memory") for e in PEER_ENDPOINTS}
    port, admin_port = free_port(), free_port()
    argv = [
        "taskset",
        "-c",
        SERVER_CPU,
        "node",
        "server.mjs",
        "--port",
        str(port),
        "--admin-port",
        str(admin_port),
    ]
    process = Process(
        "peer",
        argv,
        cwd=PEER_DIR,
        env=clean_env(NODE_ENV="production"),
        logfile=bench.work / "peer.log",
    )

    def mint(count: int) -> list[str]:
        status, body = call(admin_port, "POST", f"/mint?count={count}", timeout=300)
        if status != 200:
            raise Skip(f"minting refresh tokens answered {status}: {brief(body)}")
        return str(body).split()

    def probe(token: str) -> None:
        status, body = call(
            port,
            "POST",
            "/oauth2/token",
            basic=basic,
            form={"grant_type": "refresh_token", "refresh_token": token},
        )
        if status != 200:
            raise Skip(f"refresh_token answered {status}: {brief(body)}")

    with started(process):
        try:
            wait_ready(process, port, "/.well-known/openid-configuration")
            status, body = call(
                port,
                "POST",
                "/oauth2/token",
                basic=basic,
                form={"grant_type": "client_credentials", "scope": SCOPE},
            )
            if status != 200:
                raise Skip(f"client_credentials answered {status}: {brief(body)}")
        except Skip as exc:
            for row in rows.values():
                bench.rows.append(row)
                bench.skip(row, str(exc))
                bench.cases_left -= 1
            return
        bench.measure(rows["client_credentials"], process, "client_credentials.lua", port, env)
        bench.measure(
            rows["introspection"],
            process,
            "introspect.lua",
            port,
            dict(env, BENCH_TOKEN=body["access_token"]),
        )
        bench.measure_pooled(
            rows["refresh_token"],
            process,
            "refresh_token.lua",
            port,
            env,
            mint=mint,
            probe=probe,
            rate=rows["client_credentials"].rps,
            directory=bench.work,
        )


def authgate_store_cases(bench: Bench, store: Store) -> None:
    rows = {
        e: Row(e, "authgate", store.name)
        for e in ("client_credentials", "introspection", "refresh_token", "authorization_code")
    }
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
        bench.measure(
            rows["client_credentials"],
            server.process,
            "client_credentials.lua",
            server.port,
            server.env(),
        )
        bench.measure(
            rows["introspection"],
            server.process,
            "introspect.lua",
            server.port,
            server.env(BENCH_TOKEN=token),
        )
        rate = rows["client_credentials"].rps
        for what, endpoint in (("codes", "authorization_code"), ("refresh", "refresh_token")):
            if what == "refresh" and store.name == "memory":
                continue
            script = f"{endpoint}.lua"
            env = server.env(BENCH_REDIRECT_URI_ENCODED=quote(REDIRECT_URI, safe=""))
            bench.measure_pooled(
                rows[endpoint],
                server.process,
                script,
                server.port,
                env,
                mint=functools.partial(server.mint, what),
                probe=grant_probe(server, what),
                rate=rate,
                directory=server.directory,
            )
    if store.name == "memory":
        memory_refresh_case(bench, store, rows["refresh_token"], rate)


def https_case(bench: Bench, store: Store) -> None:
    """client_credentials over HTTPS, on the store of the plain-HTTP row it sits next to."""
    row = Row("client_credentials (https)", "authgate", store.name)
    try:
        server = Authgate(bench, store, f"{store.name}-https", tls=True)
    except Skip as exc:
        bench.rows.append(row)
        bench.skip(row, str(exc))
        bench.cases_left -= 1
        return
    with started(server.process):
        try:
            server.ready()
            server.access_token()
        except Skip as exc:
            bench.rows.append(row)
            bench.skip(row, str(exc))
            bench.cases_left -= 1
            return
        bench.measure(
            row, server.process, "client_credentials.lua", server.port, server.env(), scheme="https"
        )


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
        wrk(
            "mint_refresh.lua",
            server.port,
            seconds,
            server.env(BENCH_POOL=str(pool_file), BENCH_COUNT=str(count)),
        )
        values = pool_file.read_text().split()
        if len(values) < count:
            raise Skip(f"minted {len(values)} of {count} refresh tokens")
        return values

    with started(server.process):
        try:
            server.ready()
            status, body = server.post(
                "/oauth2/token", {"grant_type": "client_credentials", "scope": SCOPE}
            )
            if status != 200 or "refresh_token" not in body:
                raise Skip(
                    f'client_credentials with refresh = "new" answered {status}: {brief(body)}'
                )
        except Skip as exc:
            bench.rows.append(row)
            bench.skip(row, str(exc))
            bench.cases_left -= 1
            return
        bench.measure_pooled(
            row,
            server.process,
            "refresh_token.lua",
            server.port,
            server.env(),
            mint=mint,
            probe=grant_probe(server, "refresh"),
            rate=rate,
            directory=server.directory,
        )


# the gateway


def gateway_cases(bench: Bench) -> None:
    """The upstream alone, then authgate in front of it with opaque and with JWT access tokens
    (RFC 9068, checked by signature before the store), and client_credentials issuing JWTs."""
    direct = Row("gateway GET", "upstream", "direct")
    routed = [
        Row("gateway GET", "authgate", "memory"),
        Row("gateway GET (jwt)", "authgate", "memory"),
        Row("client_credentials (jwt)", "authgate", "memory"),
    ]
    up_port = free_port()
    argv = [
        "taskset",
        "-c",
        SERVER_CPU,
        str(BIN / "uvicorn"),
        "--app-dir",
        str(BENCH),
        "upstream:app",
        "--port",
        str(up_port),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    upstream = Process(
        "upstream", argv, cwd=bench.work, env=clean_env(), logfile=bench.work / "upstream.log"
    )
    with started(upstream):
        try:
            wait_ready(upstream, up_port, "/")
        except Skip as exc:
            for row in (direct, *routed):
                bench.rows.append(row)
                bench.skip(row, str(exc))
                bench.cases_left -= 1
            return
        bench.measure(direct, upstream, "gateway.lua", up_port, {"BENCH_PATH": "/api/bench"})
        routed_cases(bench, up_port, "gateway", [routed[0]])
        jwt = '[tokens]\naccess_token_format = "jwt"\n'
        routed_cases(bench, up_port, "gateway-jwt", routed[1:], jwt)


def routed_cases(bench: Bench, up_port: int, tag: str, rows: list[Row], tokens: str = "") -> None:
    """One authgate with a route to the upstream: the gateway row, then client_credentials."""
    extra = tokens + (
        f'[[gateway.routes]]\npath = "/api/bench"\n'
        f'upstream = "http://127.0.0.1:{up_port}"\nscopes = ["{SCOPE}"]\n'
        f'service = "bench"\n'
    )
    try:
        server = Authgate(bench, Store("memory", "memory://"), tag, extra)
        with started(server.process):
            server.ready()
            token = server.access_token()
            status, body = call(server.port, "GET", "/api/bench", bearer=token)
            if status != 200:
                raise Skip(
                    f"gateway not available: GET /api/bench answered {status}: {brief(body)}"
                )
            gateway, *issuing = rows
            env = {"BENCH_PATH": "/api/bench", "BENCH_TOKEN": token}
            bench.measure(gateway, server.process, "gateway.lua", server.port, env)
            gateway.note = (gateway.note + "; " if gateway.note else "") + "upstream shares core 0"
            for row in issuing:
                script = "client_credentials.lua"
                bench.measure(row, server.process, script, server.port, server.env())
    except Skip as exc:
        for row in rows:
            if row not in bench.rows:
                bench.rows.append(row)
                bench.skip(row, str(exc))
                bench.cases_left -= 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="1 run of 1 s, memory store, authgate only (for the tests)",
    )
    # The embedded default first: its rows carry the targets, and measured right after the
    # peer's they share the most of the machine's state (this VM's speed drifts over minutes).
    parser.add_argument("--stores", default="sqlite,memory,postgresql,redis")
    parser.add_argument("--no-peer", action="store_true")
    parser.add_argument("--no-gateway", action="store_true")
    parser.add_argument("--no-https", action="store_true", help="no client_credentials (https) row")
    parser.add_argument(
        "--gateway-only", action="store_true", help="only the gateway and JWT cases"
    )
    parser.add_argument(
        "--duration", type=float, default=float(os.environ.get("BENCH_DURATION", "10"))
    )
    parser.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", "3")))
    parser.add_argument(
        "--budget", type=float, default=float(os.environ.get("BENCH_BUDGET", "570"))
    )
    parser.add_argument("--out", type=Path, help="JSON file (default: bench/results/...)")
    args = parser.parse_args(argv)
    # A TERM (timeout, CI) unwinds like Ctrl-C, so every started process is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.smoke:
        args.duration, args.runs, args.stores = 1, 1, "memory"
        args.no_peer = args.no_gateway = True
    if args.gateway_only:
        args.stores, args.no_peer, args.no_gateway = "", True, False
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
    bench.plan(
        (0 if args.no_peer else 3)
        + 4 * len(usable)
        + (0 if args.no_gateway else 4)
        + (0 if args.no_https or not usable else 1)
    )
    log(f"{args.runs} run(s) of {args.duration:g} s per case; work files in {bench.work}")
    try:
        if not args.no_peer:
            peer_cases(bench)
        # The cases the targets are about come first (the default store, then the gateway),
        # so that a run cut short by its time budget drops the others.
        for index, store in enumerate(usable):
            authgate_store_cases(bench, store)
            if index == 0 and not args.no_https:
                https_case(bench, store)
            if index == 0 and not args.no_gateway:
                gateway_cases(bench)
        if not usable and not args.no_gateway:
            gateway_cases(bench)
    finally:
        for store in usable:
            if store.cleanup:
                with contextlib.suppress(Exception):
                    store.cleanup()
        shutil.rmtree(bench.work, ignore_errors=True)
    add_ratios(bench.rows)
    load_after = os.getloadavg()
    report = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": " ".join([Path(sys.argv[0]).name, *(argv or sys.argv[1:])]),
        "settings": {
            "duration_s": args.duration,
            "runs": args.runs,
            "connections": CONNECTIONS,
            "wrk_threads": 1,
            "server_cpu": SERVER_CPU,
            "wrk_cpu": LOAD_CPU,
        },
        "load_average_before": load_before,
        "load_average_after": load_after,
        "elapsed_s": round(time.monotonic() - bench.started, 1),
        "versions": versions(),
        "rows": [asdict(r) for r in bench.rows],
    }
    out = args.out or RESULTS / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(table(bench.rows))
    print(
        f"\n{report['elapsed_s']} s; load average before {load_before[0]:.2f}, after "
        f"{load_after[0]:.2f}; JSON: {out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
