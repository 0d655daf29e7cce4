"""authgate as separate OS processes: `authgate serve` and CLI commands over one config file.

`serve()` starts `python -m authgate.cli --config FILE serve` in its own process group on a
free loopback port and stops it in `finally` (SIGTERM to that group, SIGKILL if it lingers),
so the workers of `--workers N` go with their supervisor.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.e2e.server import free_port


def environment() -> dict[str, str]:
    """This environment without AUTHGATE_* overrides: the config file alone decides."""
    return {k: v for k, v in os.environ.items() if not k.startswith("AUTHGATE_")}


def write_config(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def cli(config: Path, *args: str) -> str:
    """Run one `authgate` command; its stdout, or a failed assertion with its stderr."""
    result = subprocess.run(
        [sys.executable, "-m", "authgate.cli", "--config", str(config), *args],
        env=environment(),
        cwd=config.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"authgate {' '.join(args)}: {result.stderr}"
    return result.stdout


@dataclass
class ServeProcess:
    url: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill(self) -> None:
        """SIGKILL, as a crash would: no shutdown, no flush."""
        os.kill(self.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


@contextlib.contextmanager
def serve(
    config: Path, *, workers: int | None = None, name: str = "serve"
) -> Iterator[ServeProcess]:
    with serve_many(config, [name], workers=workers) as (running,):
        yield running


@contextlib.contextmanager
def serve_many(
    config: Path, names: list[str], *, workers: int | None = None
) -> Iterator[list[ServeProcess]]:
    """One `authgate serve` per name, each on its own port, started together."""
    started: list[ServeProcess] = []
    try:
        for name in names:
            started.append(_start(config, name, workers))
        for running in started:
            _wait_ready(running)
        yield started
    finally:
        for running in started:
            stop_group(running.process)


def _start(config: Path, name: str, workers: int | None) -> ServeProcess:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "authgate.cli",
        "--config",
        str(config),
        "serve",
        "--port",
        str(port),
    ]
    if workers is not None:
        command += ["--workers", str(workers)]
    log = config.parent / f"{name}-{port}.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            command,
            env=environment(),
            cwd=config.parent,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return ServeProcess(f"http://127.0.0.1:{port}", port, process, log)


def _wait_ready(running: ServeProcess, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if running.process.poll() is not None:
            raise RuntimeError(f"authgate serve exited: {running.log.read_text()}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{running.url}/readyz", timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"authgate serve not ready in {timeout}s: {running.log.read_text()}")


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process group of `process` (started with start_new_session), SIGKILL
    if it lingers."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)  # the group this test started, by its id
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


# Which worker process holds a connection (Linux /proc), for `serve --workers N`.


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    return inodes


def owner_of_connection(server_port: int, client_port: int, pids: list[int]) -> int | None:
    """The process among `pids` holding the server side of 127.0.0.1:client_port's connection."""
    inode = None
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                local, remote = fields[1], fields[2]
                if (
                    int(local.rsplit(":", 1)[1], 16) == server_port
                    and int(remote.rsplit(":", 1)[1], 16) == client_port
                ):
                    inode = fields[9]
    if inode is None:
        return None
    for pid in pids:
        if inode in _socket_inodes(pid):
            return pid
    return None
