"""`python -m drills [--quick] [--minutes N] [--out DIR]`: every drill, one after the other,
each in a process of its own; prints each drill's table and exits non-zero if any failed."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

DRILLS = ("fuzz", "kill9", "outage", "slow_clients", "soak")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a short run of each (seconds)")
    parser.add_argument("--minutes", type=float, help="length of the soak")
    parser.add_argument("--out", help="a folder for each drill's figures as JSON")
    parser.add_argument("--only", help="comma-separated drill names")
    args = parser.parse_args()
    failed = []
    for name in args.only.split(",") if args.only else DRILLS:
        argv = [sys.executable, "-m", f"drills.{name}"]
        argv += ["--quick"] if args.quick else []
        if name == "soak" and args.minutes is not None:
            argv += ["--minutes", str(args.minutes)]
        if args.out:
            Path(args.out).mkdir(parents=True, exist_ok=True)
            argv += ["--out", str(Path(args.out) / f"{name}.json")]
        started = time.monotonic()
        done = subprocess.run(argv, check=False)
        print(f"\n({name}: {time.monotonic() - started:.0f} s, exit {done.returncode})\n")
        if done.returncode != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
