"""`serve --workers 2` against one worker on the same two cores: what a second worker adds.

    .venv/bin/python bench/workers.py [--runs 3] [--duration 5] [--case client_credentials]

Issue 15 asks for the figure to be reported. Two servers with the default SQLite store, each
with its own database: `authgate serve --workers 1` and `--workers 2`, neither pinned to a
core. wrk drives them with 2 threads and 32 connections, also unpinned, so wrk takes about
one of the machine's two cores: the workers, their SQLite threads and wrk share the cores,
and the two workers share their file's write lock. The servers take turns (1 2, 2 1, ...);
the table gives each one's median requests/s, its runs, and the ratio of the medians.
"""

from __future__ import annotations

import argparse
import statistics

import harness
from harness import Bench, Skip, wrk
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
        for server in servers.values():
            server.ready()
        envs = {n: server.env() for n, server in servers.items()}
        script = "client_credentials.lua"
        if args.case == "introspection":
            script = "introspect.lua"
            envs = {n: s.env(BENCH_TOKEN=s.access_token()) for n, s in servers.items()}
        rates: dict[int, list[float]] = {1: [], 2: []}
        for index in range(args.runs):
            for n in (1, 2) if index % 2 == 0 else (2, 1):
                run = wrk(
                    script, servers[n].port, args.duration, envs[n], threads=THREADS, cpu=None
                )
                if run.errors:
                    raise Skip(f"--workers {n}: {run.errors} failed requests")
                rates[n].append(run.rps)
        print(
            f"{args.case}, SQLite, wrk -t{THREADS} -c{CONNECTIONS}, {args.runs} runs of "
            f"{args.duration:g} s each, nothing pinned"
        )
        print("| server | req/s (median) | runs |")
        print("|---|---|---|")
        for n, found in rates.items():
            runs = ", ".join(f"{rate:,.0f}" for rate in found)
            print(f"| --workers {n} | {statistics.median(found):,.0f} | {runs} |")
        ratio = statistics.median(rates[2]) / statistics.median(rates[1])
        print(f"\n--workers 2 / --workers 1: {ratio:.2f}")
    finally:
        for server in servers.values():
            server.process.stop()


if __name__ == "__main__":
    main()
