"""authgate's app under uvicorn (`authgate serve`) and under granian's ASGI interface, taking
turns: the evaluation issue 15 asks for before choosing an HTTP server.

    .venv/bin/pip install granian        # not a project dependency
    .venv/bin/python bench/servers.py [--cases client_credentials,introspection,gateway]
                                      [--runs 6] [--duration 3]

Both servers run one worker on core 0 with the same configuration and SQLite database (the
gateway case keeps its tokens in SQLite too: a memory store would be private to each server);
wrk drives them from core 1, in the order A B, B A, ... Prints req/s, the ratio run by run,
status errors and the CPU time per request of each server's process tree.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
from pathlib import Path

from ab import server, upstream
from harness import (
    BIN,
    SERVER_CPU,
    Bench,
    Process,
    clean_env,
    cpu_seconds,
    free_port,
    wait_ready,
    wrk,
)
from targets import Authgate, Store

CASES = ("client_credentials", "introspection", "gateway")


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its descendants (granian's worker is a child)."""
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False)
    return cpu_seconds(pid) + sum(tree_cpu(int(child)) for child in found.stdout.split())


def granian(target: Authgate) -> tuple[Process, int]:
    executable = shutil.which("granian", path=str(BIN))
    if executable is None:
        raise SystemExit("servers: granian is not installed (.venv/bin/pip install granian)")
    port = free_port()
    argv = ["taskset", "-c", SERVER_CPU, executable, "--interface", "asgi", "--factory"]
    argv += ["--loop", "uvloop", "--http", "1", "--workers", "1", "--port", str(port)]
    argv += ["--no-ws", "--log-level", "warning", "authgate.server:app_factory"]
    options = json.dumps({"config": str(target.config)})
    env = clean_env(AUTHGATE_SERVE_OPTIONS=options)
    log = target.directory / "granian.log"
    process = Process("granian", argv, cwd=target.directory, env=env, logfile=log)
    wait_ready(process, port, "/healthz")
    return process, port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--duration", type=float, default=3)
    args = parser.parse_args()
    bench = Bench(argparse.Namespace(budget=10**6, runs=args.runs, duration=args.duration))
    lines = [
        "| case | uvicorn req/s | granian req/s | granian/uvicorn | run by run | errors "
        "| uvicorn CPU µs/req | granian CPU µs/req |",
        "|---|---|---|---|---|---|---|---|",
    ]
    up, up_port = upstream(bench)
    try:
        for case in args.cases.split(","):
            # The gateway's tokens in SQLite too: a memory store is private to each server.
            sqlite = Store("sqlite", f"sqlite:///{Path(bench.work) / case}.db")
            target, script, env = server(bench, case, case, up_port, gateway_store=sqlite)
            try:
                second, second_port = granian(target)
            except BaseException:
                target.process.stop()
                raise
            sides = [(target.process, target.port), (second, second_port)]
            rates: list[list[float]] = [[], []]
            cpu: list[list[float]] = [[], []]
            errors = [0, 0]
            try:
                for _, port in sides:
                    wrk(script, port, 1, env)  # warm-up
                for index in range(args.runs):
                    for side in (0, 1) if index % 2 == 0 else (1, 0):
                        process, port = sides[side]
                        before = tree_cpu(process.pid)
                        run = wrk(script, port, args.duration, env)
                        used = tree_cpu(process.pid) - before
                        rates[side].append(run.rps)
                        cpu[side].append(1e6 * used / max(run.requests, 1))
                        errors[side] += run.errors
            finally:
                second.stop()
                target.process.stop()
            a, b = (statistics.median(side) for side in rates)
            ratios = ", ".join(f"{y / x:.2f}" for x, y in zip(*rates, strict=True))
            lines.append(
                f"| {case} | {a:.0f} | {b:.0f} | {b / a:.2f} | {ratios} | {errors[0]}, {errors[1]} "
                f"| {statistics.median(cpu[0]):.0f} | {statistics.median(cpu[1]):.0f} |"
            )
            print(lines[-1], flush=True)
    finally:
        up.stop()
    print("\n".join(lines))


if __name__ == "__main__":
    main()
