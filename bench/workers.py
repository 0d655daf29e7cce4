"""`serve --workers 2` against one worker on the same two cores: what a second worker adds.

    .venv/bin/python bench/workers.py [--runs 3] [--duration 5] [--case client_credentials]

Issue 15 asks for the figure to be reported. Two servers with the default SQLite store, each
with its own database: `authgate serve --workers 1` and `--workers 2`, neither pinned to a
core. wrk drives them with 2 threads and 32 connections, also unpinned, so wrk takes about
one of the machine's two cores: the workers, their SQLite threads and wrk share the cores,
and the two workers share their file's write lock. The servers take turns (1 2, 2 1, ...) as in
bench/run.py (harness.Bench.measure_interleaved); then the table and the ratio of the
medians, and of the runs side by side.
"""

from __future__ import annotations

import argparse

import harness
from harness import Bench, Case, Row, table
from targets import Authgate, Store, stores

CONNECTIONS = 32
THREADS = 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument(
        "--case", default="client_credentials", choices=["client_credentials", "introspection"]
    )
    args = parser.parse_args()
    harness.CONNECTIONS = CONNECTIONS  # what wrk() opens
    bench = Bench(argparse.Namespace(budget=10**6, runs=args.runs, duration=args.duration))
    sqlite = next(s for s in stores(["sqlite"]) if isinstance(s, Store))
    servers = {n: Authgate(bench, sqlite, f"workers-{n}", workers=n) for n in (1, 2)}
    try:
        cases = []
        for n, server in servers.items():
            server.ready()
            script, env = "client_credentials.lua", server.env()
            if args.case == "introspection":
                script, env = "introspect.lua", server.env(BENCH_TOKEN=server.access_token())
            row = Row(args.case, f"--workers {n}", "sqlite")
            cases.append(
                Case(row, server.process, script, server.port, env, threads=THREADS, cpu=None)
            )
        bench.measure_interleaved(cases)  # taking turns: 1 2, 2 1, ...
    finally:
        for server in servers.values():
            server.process.stop()
    one, two = (case.row for case in cases)
    print(f"wrk -t{THREADS} -c{CONNECTIONS}, nothing pinned")
    print(table(bench.rows))
    if one.rps and two.rps:
        runs = ", ".join(f"{b.rps / a.rps:.2f}" for a, b in zip(one.runs, two.runs, strict=False))
        print(f"\n--workers 2 / --workers 1: {two.rps / one.rps:.2f} (run by run {runs})")


if __name__ == "__main__":
    main()
