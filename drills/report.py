"""`python -m drills.report [DIR]`: the tables of the figures a `make drills` run wrote as JSON
(drills/results/ by default), in Markdown, for docs/reliability.md."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from drills.__main__ import DRILLS
from drills.harness import Figure, Report


def load(path: Path) -> Report:
    data = json.loads(path.read_text())
    figures = [Figure(**f) for f in data["figures"]]
    return Report(data["drill"], figures, data["notes"])


def main() -> int:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "drills/results")
    for name in DRILLS:
        path = folder / f"{name}.json"
        if path.exists():
            print(load(path).table().replace("## ", "### ", 1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
