"""Where authgate spends a request: py-spy on the server while wrk drives one endpoint.

    .venv/bin/pip install py-spy            # not a project dependency
    .venv/bin/python bench/hotpath.py [--store sqlite] [--seconds 10]

Starts `authgate serve` on core 0 with the given store and a gateway route to the bench
upstream (bench/upstream.py, also on core 0, as in bench/run.py's gateway rows), runs wrk
(core 1) on client_credentials, introspection, the rotating refresh grant (a pool of refresh
tokens minted before) and then a gateway GET while `py-spy record`
samples the server, and
prints the top frames by own time and by inclusive time for each, plus the raw collapsed
stacks under bench/results/profile-<endpoint>-<store>.txt. Only the thread holding the GIL
is sampled (`--gil`): idle threads (aiosqlite's waiting workers, the event loop in epoll)
would otherwise fill the top of the list.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import threading
from pathlib import Path

# bench/harness.py and bench/targets.py: Python puts the script's folder first on sys.path.
from gateway_cases import gateway_token, route_config, upstream_process
from harness import BIN, RESULTS, Bench, started, wait_ready, wrk
from targets import Authgate, Store

TOP = 25
REFRESH_RATE = 8000  # refresh tokens minted per profiled second: more than one core answers


def summarize(collapsed: Path, top: int = TOP) -> str:
    """Own and inclusive sample shares per frame, from py-spy's collapsed stacks."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        frames = stack.split(";")
        total += count
        if frames:
            own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    lines = [f"{total} samples", "", "own time:"]
    lines += [f"  {100 * n / total:5.1f}%  {frame}" for frame, n in own.most_common(top)]
    lines += ["", "inclusive time:"]
    lines += [f"  {100 * n / total:5.1f}%  {frame}" for frame, n in inclusive.most_common(top)]
    return "\n".join(lines)


def profile(server: Authgate, script: str, env: dict[str, str], seconds: int, out: Path) -> str:
    spy = shutil.which("py-spy", path=str(BIN)) or shutil.which("py-spy")
    if spy is None:
        raise SystemExit("profile: py-spy is not installed (.venv/bin/pip install py-spy)")
    record = [
        spy,
        "record",
        "--pid",
        str(server.process.pid),
        "--duration",
        str(seconds),
        "--format",
        "raw",
        "--output",
        str(out),
        "--rate",
        "250",
        "--gil",
    ]
    load = threading.Thread(target=wrk, args=(script, server.port, seconds + 1, env))
    load.start()
    subprocess.run(record, check=True, capture_output=True, timeout=seconds + 60)
    load.join()
    return summarize(out)


def gateway_env(token: str) -> dict[str, str]:
    """wrk's environment for bench/wrk/gateway.lua: the route's path and the token."""
    return {"BENCH_PATH": "/api/bench", "BENCH_TOKEN": token}


def refresh_env(server: Authgate, seconds: int) -> dict[str, str]:
    """wrk's environment for bench/wrk/refresh_token.lua: a pool no run of `seconds` spends."""
    pool = server.directory / "refresh-pool.txt"
    pool.write_text("".join(v + "\n" for v in server.mint("refresh", REFRESH_RATE * seconds)))
    return server.env(BENCH_POOL=str(pool))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default="sqlite", choices=["memory", "sqlite"])
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    bench = Bench(argparse.Namespace(duration=args.seconds, runs=1, budget=600))
    store = Store(args.store, "memory://" if args.store == "memory" else "")
    RESULTS.mkdir(exist_ok=True)
    try:
        upstream, up_port = upstream_process(bench)
        server = Authgate(bench, store, f"profile-{args.store}", route_config(up_port))
        with started(upstream), started(server.process):
            wait_ready(upstream, up_port, "/")
            token = gateway_token(server)
            wrk("client_credentials.lua", server.port, 2, server.env())  # warm-up
            wrk("gateway.lua", server.port, 2, gateway_env(token))
            for endpoint, script, env in (
                ("client_credentials", "client_credentials.lua", server.env()),
                ("introspection", "introspect.lua", server.env(BENCH_TOKEN=token)),
                ("refresh_token", "refresh_token.lua", refresh_env(server, args.seconds)),
                ("gateway", "gateway.lua", gateway_env(token)),
            ):
                out = RESULTS / f"profile-{endpoint}-{args.store}.txt"
                print(f"== {endpoint} ({args.store}) ==")
                print(profile(server, script, env, args.seconds, out))
                print()
    finally:
        shutil.rmtree(bench.work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
