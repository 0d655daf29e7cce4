"""One server under a load that never pauses, window by window: what a long run does to it.

    .venv/bin/python bench/steady.py [--case client_credentials|refresh_token]
                                     [--windows 12] [--seconds 5] [--connections 16]
                                     [--base REV]

bench/run.py and bench/ab.py measure runs of a few seconds with pauses between them, and a
pause lets the SQLite worker catch up (its checkpoint, the WAL starting over). Here one
server (SQLite token store, one worker on core 0, as bench/ab.py starts it) takes wrk from
core 1 window after window with no pause between, and each window prints its requests/s,
the server's CPU time per request, p50/p99, the size of the token file and of its WAL, and
the CPU time per request of each of the server's threads (writers and checkpoints by
thread id, in the order the threads started). `--base REV` runs a git revision's code;
`--connections 1` sends one request at a time (each SQLite transaction then holds one job).
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

import harness
from ab import for_run, server, source, worktree
from harness import Bench, cpu_seconds, wrk

HEADER = "| window | req/s | CPU µs/req | p50 ms | p99 ms | WAL MB | file MB | by thread µs/req |"


def thread_seconds(pid: int) -> dict[int, float]:
    """CPU seconds of each thread of the process so far, by thread id."""
    seconds: dict[int, float] = {}
    for thread in sorted(int(task.name) for task in Path(f"/proc/{pid}/task").iterdir()):
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            seconds[thread] = cpu_seconds(pid, thread)
    return seconds


def megabytes(path: Path) -> float:
    return path.stat().st_size / 1e6 if path.exists() else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", default="client_credentials")
    parser.add_argument("--windows", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--connections", type=int, default=harness.CONNECTIONS)
    parser.add_argument("--base", help="a git revision to run instead of the working tree")
    args = parser.parse_args()
    harness.CONNECTIONS = args.connections  # what wrk() opens
    bench = Bench(argparse.Namespace(budget=10**6, runs=args.windows, duration=args.seconds))
    with contextlib.ExitStack() as stack:
        tree = stack.enter_context(worktree(args.base)) if args.base else None
        with source(tree):
            target, script, env = server(bench, args.case, "steady", 0)
        stack.callback(target.process.stop)
        tokens = bench.work / "steady.db"
        wal = Path(f"{tokens}-wal")
        pid = target.process.pid
        wrk(script, target.port, 1, for_run(env, 0))  # warm-up
        print(
            f"{args.case}, {args.connections} connections, {args.windows} windows of "
            f"{args.seconds:g} s, code of "
            f"{args.base or 'the working tree'}"
        )
        print(HEADER)
        print("|---|---|---|---|---|---|---|---|")
        for index in range(args.windows):
            before, threads_before = cpu_seconds(pid), thread_seconds(pid)
            run = wrk(script, target.port, args.seconds, for_run(env, index + 1))
            used, threads = cpu_seconds(pid) - before, thread_seconds(pid)
            per_request = 1e6 / max(run.requests, 1)
            by_thread = ", ".join(
                f"{thread} {per_request * (spent - threads_before.get(thread, 0)):.0f}"
                for thread, spent in threads.items()
                if spent - threads_before.get(thread, 0) >= 0.05
            )
            print(
                f"| {index + 1} | {run.rps:,.0f} | {used * per_request:.1f} | {run.p50_ms:.2f} "
                f"| {run.p99_ms:.2f} | {megabytes(wal):,.0f} | {megabytes(tokens):,.0f} "
                f"| {by_thread} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
