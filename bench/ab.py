"""A/B of two versions of authgate: a git revision against the working tree, taking turns.

    .venv/bin/python bench/ab.py --base main [--cases client_credentials,introspection,gateway]
                                 [--runs 6] [--duration 4]

The base revision is checked out into a temporary worktree and run with the same virtual
environment (its `src/` first on PYTHONPATH); each case starts both servers on core 0 and
drives them from core 1 as bench/run.py does, in the order A B, B A, A B, ...: the machine's
drift falls on both, and each run's ratio (B over A) is taken from runs seconds apart. Prints
the medians, the ratio run by run, and the server's CPU time per request (from /proc, less
moved than req/s by whatever else runs on the machine). For a change on a hot path, where a
full `make bench` cannot separate a few per cent from the machine's drift.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from gateway_cases import gateway_token, route_config
from harness import (
    BENCH,
    BIN,
    ROOT,
    SERVER_CPU,
    Bench,
    Process,
    Run,
    clean_env,
    cpu_seconds,
    wait_ready,
    wrk,
)
from targets import Authgate, Store

CASES = ("client_credentials", "introspection", "refresh_token", "gateway")
REFRESH_RATE = 8000  # refresh tokens minted per measured second: more than one core answers


@contextlib.contextmanager
def source(tree: Path | None) -> Iterator[None]:
    """Processes started inside run the code of `tree` (None: the working tree)."""
    before = os.environ.get("PYTHONPATH")
    if tree is not None:
        os.environ["PYTHONPATH"] = str(tree / "src")
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = before


@contextlib.contextmanager
def worktree(revision: str) -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="authgate-ab-"))
    git = ["git", "-C", str(ROOT)]
    subprocess.run([*git, "worktree", "add", "--detach", str(directory), revision], check=True)
    try:
        yield directory
    finally:
        subprocess.run([*git, "worktree", "remove", "--force", str(directory)], check=False)


def upstream(bench: Bench) -> tuple[Process, int]:
    from harness import free_port

    port = free_port()
    argv = ["taskset", "-c", SERVER_CPU, str(BIN / "uvicorn"), "--app-dir", str(BENCH)]
    argv += ["upstream:app", "--port", str(port), "--loop", "uvloop", "--http", "httptools"]
    argv += ["--no-access-log", "--log-level", "warning"]
    process = Process(
        "upstream", argv, cwd=bench.work, env=clean_env(), logfile=bench.work / "up.log"
    )
    wait_ready(process, port, "/")
    return process, port


def server(
    bench: Bench, case: str, tag: str, up_port: int, *, gateway_store: Store | None = None
) -> tuple[Authgate, str, dict[str, str]]:
    """One side of a case: the server, the wrk script and its environment. The token store
    is SQLite, the gateway's `gateway_store` (default: memory, as in bench/run.py). A server
    whose setup fails is stopped here: the caller never gets it to stop. For refresh_token
    the environment's BENCH_POOL names a pool per run, "{run}" standing for the run's index
    (the warm-up is run 0)."""
    sqlite = Store("sqlite", f"sqlite:///{bench.work / tag}.db")
    if case == "gateway":
        store = gateway_store or Store("memory", "memory://")
        target = Authgate(bench, store, tag, route_config(up_port))
    else:
        target = Authgate(bench, sqlite, tag)
    try:
        if case == "gateway":
            token = gateway_token(target)
            return target, "gateway.lua", {"BENCH_PATH": "/api/bench", "BENCH_TOKEN": token}
        target.ready()
        if case == "introspection":
            return target, "introspect.lua", target.env(BENCH_TOKEN=target.access_token())
        if case == "refresh_token":
            per_run = int(REFRESH_RATE * bench.args.duration)
            values = target.mint("refresh", per_run * (bench.args.runs + 1))
            for index in range(bench.args.runs + 1):
                pool = target.directory / f"refresh-{index}.txt"
                pool.write_text("".join(v + "\n" for v in values[index :: bench.args.runs + 1]))
            pools = str(target.directory / "refresh-{run}.txt")
            return target, "refresh_token.lua", target.env(BENCH_POOL=pools)
        return target, "client_credentials.lua", target.env()
    except BaseException:
        target.process.stop()
        raise


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="main", help="git revision of side A")
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--duration", type=float, default=4)
    args = parser.parse_args()
    bench = Bench(argparse.Namespace(budget=10**6, runs=args.runs, duration=args.duration))
    lines = [f"A = {args.base}, B = working tree; {args.runs} runs of {args.duration:g} s each"]
    lines += [
        "| case | A req/s | B req/s | B/A of medians | B/A run by run "
        "| A CPU µs/req | B CPU µs/req | A/B of CPU | A p50/p99 ms | B p50/p99 ms |"
    ]
    lines += ["|---|---|---|---|---|---|---|---|---|---|"]
    with worktree(args.base) as tree, contextlib.ExitStack() as running:
        up, up_port = upstream(bench)
        running.enter_context(contextlib.closing(_Stop(up)))
        for case in args.cases.split(","):
            sides = []
            for tag, where in ((f"{case}-a", tree), (f"{case}-b", None)):
                with source(where):
                    target, script, env = server(bench, case, tag, up_port)
                running.enter_context(contextlib.closing(_Stop(target.process)))
                wrk(script, target.port, 1, for_run(env, 0))  # warm-up
                sides.append((target, script, env))
            runs: list[list[Run]] = [[], []]
            cpu: list[list[float]] = [[], []]  # the server's CPU µs per request, each run
            for index in range(args.runs):
                order = (0, 1) if index % 2 == 0 else (1, 0)
                for side in order:
                    target, script, env = sides[side]
                    before = cpu_seconds(target.process.pid)
                    run = wrk(script, target.port, args.duration, for_run(env, index + 1))
                    used = cpu_seconds(target.process.pid) - before
                    runs[side].append(run)
                    cpu[side].append(1e6 * used / max(run.requests, 1))
            a, b = ([r.rps for r in side] for side in runs)
            ratios = ", ".join(f"{y / x:.2f}" for x, y in zip(a, b, strict=True))
            per_request = [statistics.median(side) for side in cpu]
            lines.append(
                f"| {case} | {statistics.median(a):.0f} | {statistics.median(b):.0f} | "
                f"{statistics.median(b) / statistics.median(a):.3f} | {ratios} | "
                f"{per_request[0]:.1f} | {per_request[1]:.1f} | "
                f"{per_request[0] / per_request[1]:.3f} | {latency(runs[0])} | {latency(runs[1])} |"
            )
            print(lines[-1], flush=True)
    print("\n".join(lines))


def latency(runs: list[Run]) -> str:
    """The medians of the runs' p50 and p99: what a change trades in latency, if anything."""
    p50 = statistics.median(r.p50_ms for r in runs)
    p99 = statistics.median(r.p99_ms for r in runs)
    return f"{p50:.2f} / {p99:.2f}"


def for_run(env: dict[str, str], index: int) -> dict[str, str]:
    """The environment of one run: its own pool of single-use tokens, where there is one."""
    if "BENCH_POOL" not in env:
        return env
    return dict(env, BENCH_POOL=env["BENCH_POOL"].replace("{run}", str(index)))


class _Stop:
    def __init__(self, process: Process) -> None:
        self.process = process

    def close(self) -> None:
        self.process.stop()


if __name__ == "__main__":
    main()
