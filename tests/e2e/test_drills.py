"""Each reliability drill runs end to end in its short form (`python -m drills.<name> --quick`,
what `make drills-quick` runs), so the drills cannot rot.

No timing is asserted (the machine may be busy): only the figures that say authgate answered
wrongly (a 5xx, a hang, a lost token, a wrong verdict, a failed request, a traceback in its
log) must be zero.
"""

from __future__ import annotations

import glob
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require_backend

ROOT = Path(__file__).resolve().parents[2]
# Figures about timing or the machine (p99, recovery seconds, RSS, skipped starts) are left
# to the full run: a quick run on a shared machine proves nothing about them.
CORRECTNESS = (
    "5xx",
    "hangs",
    "tokens lost",
    "accepted",
    "wrong verdicts",
    "other 5xx",
    "no answer",
    "not answered 200",
    "failed checks",
    "alive",
    "tracebacks",
)


def needs(drill: str) -> None:
    if drill in ("kill9", "outage") and not glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"):
        require_backend("postgresql", "the PostgreSQL server binaries are not installed")
    if drill == "outage":
        for tool in ("redis-server", "slapd"):
            if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
                require_backend(tool, f"{tool} is not installed")


@pytest.mark.timeout(600)
@pytest.mark.parametrize("drill", ["fuzz", "kill9", "outage", "slow_clients", "soak"])
def test_quick_drill_runs_and_finds_no_wrong_answer(drill: str, tmp_path: Path) -> None:
    needs(drill)
    out = tmp_path / f"{drill}.json"
    done = subprocess.run(
        [sys.executable, "-m", f"drills.{drill}", "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=540,
        cwd=ROOT,
        check=False,
    )
    assert out.exists(), done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["figures"], done.stderr[-2000:]
    wrong = [
        f
        for f in report["figures"]
        if f["ok"] is False and any(word in f["name"] for word in CORRECTNESS)
    ]
    assert not wrong, (wrong, report["notes"])
    assert f"## {drill}" in done.stdout
