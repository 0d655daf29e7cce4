"""Throwaway PostgreSQL and Redis servers, on free ports in temporary directories, that a drill
may stop and start at will: the machine's shared services are never touched."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from drills.harness import DrillError
from tests.e2e.server import free_port


def wait_listening(port: int, timeout: float = 30) -> float:
    """Seconds until 127.0.0.1:port accepts a connection."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return time.monotonic() - started
        time.sleep(0.02)
    raise DrillError(f"nothing listens on port {port} after {timeout:.0f} s")


_TERMINATE = (
    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
    "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
)


class Postgres:
    """initdb + pg_ctl from /usr/lib/postgresql/*/bin; as the `postgres` user when run by
    root (PostgreSQL refuses to run as root)."""

    def __init__(self) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        if not found:
            raise DrillError("PostgreSQL server binaries are not installed (Debian: postgresql)")
        self.bin = Path(found[-1]).parent
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="authgate-drill-pg-"))
        self.data = self.directory / "data"
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.directory, owner.pw_uid, owner.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str) -> None:
        done = subprocess.run(
            [*self.as_user, *argv], capture_output=True, text=True, timeout=120, check=False
        )
        if done.returncode != 0:
            raise DrillError(f"{Path(argv[0]).name}: {(done.stderr or done.stdout).strip()}")

    def init(self) -> None:
        self._run(
            str(self.bin / "initdb"),
            *("-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync"),
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 "
            "-c max_connections=200"
        )
        self._run(
            str(self.bin / "pg_ctl"),
            *("-D", str(self.data), "-l", str(self.directory / "postgres.log")),
            *("-o", options, "-w", "start"),
        )

    def stop(self, mode: str = "immediate") -> None:
        """`immediate`: as a crash (no checkpoint; the WAL replays at the next start)."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def end_sessions(self) -> None:
        """pg_terminate_backend on every client session but this one: each ends with FATAL
        57P01, as in a fast shutdown, but the server stays up and new sessions may open."""
        self._run(
            str(self.bin / "psql"),
            *("-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", "postgres"),
            *("-qAtc", _TERMINATE),
        )

    def is_running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def remove(self) -> None:
        if self.is_running():
            with contextlib.suppress(DrillError):
                self.stop("fast")
        shutil.rmtree(self.directory, ignore_errors=True)


@contextlib.contextmanager
def postgres() -> Iterator[Postgres]:
    server = Postgres()
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.remove()


class Redis:
    """redis-server with an append-only file, so a stop and start keeps the tokens."""

    def __init__(self) -> None:
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            raise DrillError("redis-server is not installed (Debian: redis-server)")
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="authgate-drill-redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert self.binary is not None
        with (self.directory / "redis.log").open("ab") as out:
            self.process = subprocess.Popen(
                [
                    self.binary,
                    *("--port", str(self.port), "--bind", "127.0.0.1", "--save", ""),
                    *("--dir", str(self.directory), "--appendonly", "yes"),
                    *("--appendfsync", "always"),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_listening(self.port)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


@contextlib.contextmanager
def redis() -> Iterator[Redis]:
    server = Redis()
    try:
        server.start()
        yield server
    finally:
        server.remove()
