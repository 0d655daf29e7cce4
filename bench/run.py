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

from gateway_cases import gateway_cases, skip_all
from harness import (
    CONNECTIONS,
    LOAD_CPU,
    PEER_DIR,
    PEER_ENDPOINTS,
    REDIRECT_URI,
    RESULTS,
    SCOPE,
    SERVER_CPU,
    Bench,
    Case,
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


class Peer:
    """node-oidc-provider on core 0, and a second port of it that mints refresh tokens."""

    def __init__(self, bench: Bench) -> None:
        self.basic = base64.b64encode(b"bench:bench-secret").decode()
        self.port, self.admin_port = free_port(), free_port()
        argv = [
            "taskset",
            "-c",
            SERVER_CPU,
            "node",
            "server.mjs",
            "--port",
            str(self.port),
            "--admin-port",
            str(self.admin_port),
        ]
        self.process = Process(
            "peer",
            argv,
            cwd=PEER_DIR,
            env=clean_env(NODE_ENV="production"),
            logfile=bench.work / "peer.log",
        )
        self.directory = bench.work

    def env(self, **extra: str) -> dict[str, str]:
        return {"BENCH_BASIC": self.basic, "BENCH_SCOPE": SCOPE, **extra}

    def access_token(self) -> str:
        wait_ready(self.process, self.port, "/.well-known/openid-configuration")
        status, body = call(
            self.port,
            "POST",
            "/oauth2/token",
            basic=self.basic,
            form={"grant_type": "client_credentials", "scope": SCOPE},
        )
        if status != 200:
            raise Skip(f"client_credentials answered {status}: {brief(body)}")
        return str(body["access_token"])

    def mint(self, count: int) -> list[str]:
        status, body = call(self.admin_port, "POST", f"/mint?count={count}", timeout=300)
        if status != 200:
            raise Skip(f"minting refresh tokens answered {status}: {brief(body)}")
        return str(body).split()

    def probe(self, token: str) -> None:
        form = {"grant_type": "refresh_token", "refresh_token": token}
        status, body = call(self.port, "POST", "/oauth2/token", basic=self.basic, form=form)
        if status != 200:
            raise Skip(f"refresh_token answered {status}: {brief(body)}")


def authgate_store_cases(bench: Bench, store: Store, with_peer: bool = False) -> None:
    """One store's four endpoints; with the peer, the two servers take turns run by run on
    the endpoints they share (see Bench.measure_interleaved)."""
    rows = {
        e: Row(e, "authgate", store.name)
        for e in ("client_credentials", "introspection", "refresh_token", "authorization_code")
    }
    peer_rows = {e: Row(e, "peer", "memory") for e in PEER_ENDPOINTS} if with_peer else {}
    if store.name == "memory":
        rows["authorization_code"].store = "memory+sqlite codes"
    try:
        server = Authgate(bench, store, store.name)
    except Skip as exc:
        skip_all(bench, [*peer_rows.values(), *rows.values()], str(exc))
        return
    peer = Peer(bench) if with_peer else None
    with contextlib.ExitStack() as running:
        running.enter_context(started(server.process))
        peer_token = ""
        if peer is not None:
            running.enter_context(started(peer.process))
            try:
                peer_token = peer.access_token()
            except Skip as exc:
                skip_all(bench, list(peer_rows.values()), str(exc))
                peer, peer_rows = None, {}
        try:
            server.ready()
            token = server.access_token()
        except Skip as exc:
            skip_all(bench, [*peer_rows.values(), *rows.values()], str(exc))
            return
        for endpoint, script, extra in (
            ("client_credentials", "client_credentials.lua", {}),
            ("introspection", "introspect.lua", {"BENCH_TOKEN": token}),
        ):
            cases = [Case(rows[endpoint], server.process, script, server.port, server.env(**extra))]
            if peer is not None:
                peer_extra = {"BENCH_TOKEN": peer_token} if extra else {}
                cases.append(
                    Case(
                        peer_rows[endpoint], peer.process, script, peer.port, peer.env(**peer_extra)
                    )
                )
            bench.measure_interleaved(cases)
        rate = rows["client_credentials"].rps
        peer_rate = peer_rows["client_credentials"].rps if peer_rows else None
        for what, endpoint in (("codes", "authorization_code"), ("refresh", "refresh_token")):
            if what == "refresh" and store.name == "memory":
                continue
            script = f"{endpoint}.lua"
            env = server.env(BENCH_REDIRECT_URI_ENCODED=quote(REDIRECT_URI, safe=""))
            share = 2 if peer is not None and what == "refresh" else 1
            pooled = [
                bench.pooled(
                    rows[endpoint],
                    server.process,
                    script,
                    server.port,
                    env,
                    mint=functools.partial(server.mint, what),
                    probe=grant_probe(server, what),
                    rate=rate,
                    directory=server.directory,
                    cases=share,
                )
            ]
            if share == 2 and peer is not None:
                pooled.append(
                    bench.pooled(
                        peer_rows[endpoint],
                        peer.process,
                        script,
                        peer.port,
                        peer.env(),
                        mint=peer.mint,
                        probe=peer.probe,
                        rate=peer_rate,
                        directory=peer.directory,
                        cases=share,
                    )
                )
            cases = [case for case in pooled if case is not None]
            if cases:
                bench.measure_interleaved(cases)
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
        case = bench.pooled(
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
        if case is not None:
            bench.measure_interleaved([case])


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
        + (0 if args.no_gateway else 5)
        + (0 if args.no_https or not usable else 1)
    )
    log(f"{args.runs} run(s) of {args.duration:g} s per case; work files in {bench.work}")
    try:
        if not usable and not args.no_peer:
            skip_all(bench, [Row(e, "peer", "memory") for e in PEER_ENDPOINTS], "no store")
        # The cases the targets are about come first (the default store, interleaved with
        # the peer, then the gateway), so that a run cut short by its budget drops the others.
        for index, store in enumerate(usable):
            authgate_store_cases(bench, store, with_peer=index == 0 and not args.no_peer)
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
