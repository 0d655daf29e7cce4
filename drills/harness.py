"""What every drill shares: `authgate serve` and the CLI as processes, free ports, RSS from
/proc, and the table of figures a drill prints (and writes as JSON with `--out`)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.processes import stop_group
from tests.e2e.server import free_port

ROOT = Path(__file__).resolve().parent.parent
TRACEBACK = "Traceback (most recent call last)"


class DrillError(Exception):
    """The drill could not set up or run its processes; the message says why."""


def log(message: str) -> None:
    print(f"[drills] {message}", file=sys.stderr, flush=True)


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without AUTHGATE_* overrides, with the repository on the Python path
    (the drills' policies are imported by the server as `drills.policies:...`)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHGATE_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    env.update(extra)
    return env


def rss_kib(pid: int) -> int | None:
    """The resident set of a process, from /proc/PID/status (None once it is gone)."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def workdir(name: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"authgate-drill-{name}-"))


# figures


@dataclass
class Figure:
    name: str
    value: Any
    target: str = ""
    ok: bool | None = None  # None: a figure to read, not a check


@dataclass
class Report:
    drill: str
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, name: str, value: Any, target: str = "", ok: bool | None = None) -> None:
        self.figures.append(Figure(name, value, target, ok))
        log(f"{self.drill}: {name} = {value}" + (f" ({target})" if target else ""))

    def note(self, text: str) -> None:
        self.notes.append(text)
        log(f"{self.drill}: note: {text}")

    @property
    def passed(self) -> bool:
        return all(f.ok is not False for f in self.figures)

    def table(self) -> str:
        lines = [
            f"## {self.drill}",
            "",
            "| figure | value | target | verdict |",
            "| --- | --- | --- | --- |",
        ]
        for f in self.figures:
            verdict = "" if f.ok is None else "pass" if f.ok else "FAIL"
            value = f.value
            if isinstance(value, bool):
                value = "yes" if value else "no"
            elif isinstance(value, int):
                value = f"{value:,}"
            lines.append(f"| {f.name} | {value} | {f.target} | {verdict} |")
        if self.notes:
            lines += ["", *(f"- {n}" for n in self.notes)]
        return "\n".join(lines)

    def finish(self, out: str | None) -> int:
        print(self.table(), flush=True)
        if out:
            Path(out).write_text(json.dumps(asdict(self), indent=2, default=str) + "\n")
        return 0 if self.passed else 1


def arguments(description: str, extra: Sequence[tuple[str, dict[str, Any]]] = ()) -> Any:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="a short run of seconds")
    parser.add_argument("--out", help="write the figures to this JSON file")
    for flag, options in extra:
        parser.add_argument(flag, **options)
    return parser.parse_args()


# authgate as processes


class Authgate:
    """One configuration file in a directory of its own, the CLI over it, and `serve`."""

    def __init__(self, directory: Path, config: str = "", *, env: dict[str, str] | None = None):
        self.directory = directory
        self.config = directory / "authgate.toml"
        self.config.write_text(config)
        self.env = clean_env(**(env or {}))
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log = directory / "serve.log"
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def cli(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "authgate.cli", "--config", str(self.config), *args],
            input=stdin,
            env=self.env,
            cwd=self.directory,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise DrillError(f"authgate {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def client(self, name: str, *options: str) -> dict[str, Any]:
        created: dict[str, Any] = json.loads(
            self.cli("client", "create", "--name", name, *options, "--json")
        )
        return created

    def user(self, name: str, password: str) -> None:
        self.cli("user", "create", name, "--password-stdin", stdin=password + "\n")

    def start(self, *, timeout: float = 60) -> Authgate:
        self.starts += 1
        with self.log.open("ab") as out:
            out.write(f"--- start {self.starts} ---\n".encode())
            out.flush()
            self.process = subprocess.Popen(
                [
                    *(sys.executable, "-m", "authgate.cli", "--config", str(self.config)),
                    *("serve", "--port", str(self.port)),
                ],
                env=self.env,
                cwd=self.directory,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise DrillError(f"authgate serve exited: {self.log_text()[-2000:]}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return self
            time.sleep(0.1)
        raise DrillError(f"authgate serve did not answer /healthz in {timeout:.0f} s")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            stop_group(process)

    def kill9(self) -> None:
        """SIGKILL, as a crash: no shutdown, no flush."""
        process, self.process = self.process, None
        if process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def tracebacks(self) -> list[str]:
        """The last line of each traceback in the server's log: the exception."""
        found = []
        lines = self.log_text().splitlines()
        for index, line in enumerate(lines):
            if TRACEBACK in line:
                tail = next(
                    (
                        lines[j]
                        for j in range(index + 1, len(lines))
                        if lines[j] and not lines[j].startswith((" ", "\t", "Traceback"))
                    ),
                    "?",
                )
                found.append(tail.strip()[:200])
        return found


@contextlib.contextmanager
def running(server: Authgate) -> Iterator[Authgate]:
    try:
        yield server.start()
    finally:
        server.stop()


@contextlib.contextmanager
def upstream() -> Iterator[str]:
    """drills.upstream on a free port, for gateway routes; yields its URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "drills.upstream", str(port)],
        env=clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise DrillError("the drills' upstream did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def gateway_route(url: str, path: str = "/api", scope: str = "read") -> str:
    """A `[[gateway.routes]]` table for a configuration file."""
    return (
        f'[[gateway.routes]]\npath = "{path}"\nupstream = "{url}"\n'
        f'scopes = ["{scope}"]\nservice = "drill-api"\n'
    )
