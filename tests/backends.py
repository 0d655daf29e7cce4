"""External services for tests: fresh SQL databases, Redis, a throwaway Redis Cluster.

Each helper either yields a store URL or calls `require_backend` (skip, or fail under
AUTHGATE_REQUIRE_BACKENDS=1). Where to find the services (defaults are this machine's):

    AUTHGATE_TEST_POSTGRESQL  postgresql://postgres@127.0.0.1:5432/test   (admin database)
    AUTHGATE_TEST_MYSQL       mysql://root@127.0.0.1:3306/test            (MariaDB or MySQL)
    AUTHGATE_TEST_REDIS       redis://127.0.0.1:6379/9

SQL helpers create a uniquely named database and drop it afterwards, so parallel runs do not
collide. Redis tests share a database and rely on random keys; the cluster is started from
`redis-server` in a temporary directory, on free loopback ports.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import require_backend

T = TypeVar("T")

POSTGRESQL = os.environ.get("AUTHGATE_TEST_POSTGRESQL", "postgresql://postgres@127.0.0.1:5432/test")
MYSQL = os.environ.get("AUTHGATE_TEST_MYSQL", "mysql://root@127.0.0.1:3306/test")
REDIS = os.environ.get("AUTHGATE_TEST_REDIS", "redis://127.0.0.1:6379/9")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    return free_port()


def _is_listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _run_async(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion on its own loop in a thread.

    The helpers below are plain context managers, used by sync fixtures and by async ones whose
    loop is already running (where a nested `asyncio.run` would fail).
    """
    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(_await(make)))
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


async def _await(make: Callable[[], Awaitable[T]]) -> T:
    return await make()


def _unique_name() -> str:
    return f"authgate_test_{secrets.token_hex(6)}"


@contextlib.contextmanager
def fresh_postgresql() -> Iterator[str]:
    """A `postgresql://` URL of a new, empty database, dropped afterwards."""
    import asyncpg

    admin = make_url(POSTGRESQL)
    if not _is_listening(admin.host or "127.0.0.1", admin.port or 5432):
        require_backend("postgresql", f"nothing listens at {admin.host}:{admin.port or 5432}")
    dsn = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    name = _unique_name()

    async def execute(sql: str) -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    problem = None
    try:
        _run_async(lambda: execute(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        problem = f"cannot create a database: {exc}"
    if problem:
        require_backend("postgresql", problem)
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        _run_async(lambda: execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextlib.contextmanager
def fresh_mysql() -> Iterator[str]:
    """A `mysql://` URL of a new, empty MariaDB/MySQL database, dropped afterwards."""
    import pymysql  # type: ignore[import-untyped]  # no stubs in the dev environment

    admin = make_url(MYSQL)
    name = _unique_name()

    def execute(sql: str) -> None:
        conn = pymysql.connect(
            host=admin.host or "127.0.0.1",
            port=admin.port or 3306,
            user=admin.username,
            password=admin.password or "",
            connect_timeout=3,
        )
        try:
            with conn.cursor() as cursor:
                cursor.execute(sql)
        finally:
            conn.close()

    problem = None
    try:
        execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    except pymysql.err.MySQLError as exc:
        problem = f"cannot create a database at {admin.host}:{admin.port}: {exc}"
    if problem:
        require_backend("mariadb", problem)
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        execute(f"DROP DATABASE IF EXISTS `{name}`")


async def migrated(url: str) -> None:
    """Create the schema in the database at `url`, as `authgate migrate` does."""
    from authgate.db import create_engine, migrate

    engine = create_engine(url)
    try:
        await migrate(engine)
    finally:
        await engine.dispose()


def redis_url() -> str:
    """The shared Redis of AUTHGATE_TEST_REDIS, checked to answer PING."""
    import redis

    problem = None
    try:
        client = redis.Redis.from_url(REDIS, socket_connect_timeout=2, socket_timeout=2)
        client.ping()
        client.close()
    except (redis.RedisError, OSError) as exc:
        problem = f"{REDIS} does not answer: {exc}"
    if problem:
        require_backend("redis", problem)
    return REDIS


def _free_cluster_port() -> int:
    """A port that is free together with its cluster-bus port (port + 10000)."""
    for _ in range(100):
        port = free_port()
        if port + 10000 > 65535:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair for a cluster node")


@contextlib.contextmanager
def start_redis_cluster(directory: Path, nodes: int = 3) -> Iterator[str]:
    """Start `nodes` masters from `redis-server`, assign the slots, yield a `redis+cluster://`."""
    import redis

    binary = shutil.which("redis-server")
    if binary is None:
        require_backend("redis-cluster", "redis-server is not on PATH")
    processes: list[subprocess.Popen[bytes]] = []
    ports = [_free_cluster_port() for _ in range(nodes)]
    try:
        for port in ports:
            with open(directory / f"redis-{port}.log", "wb") as log:
                processes.append(
                    subprocess.Popen(
                        [
                            binary,
                            "--port",
                            str(port),
                            "--bind",
                            "127.0.0.1",
                            "--cluster-enabled",
                            "yes",
                            "--cluster-config-file",
                            str(directory / f"nodes-{port}.conf"),
                            "--cluster-node-timeout",
                            "5000",
                            "--save",
                            "",
                            "--appendonly",
                            "no",
                            "--dir",
                            str(directory),
                        ],
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
        clients = [redis.Redis(port=port, socket_timeout=5) for port in ports]
        _wait(lambda: all(_pings(c) for c in clients), "cluster nodes to start")
        per_node = 16384 // nodes
        for i, client in enumerate(clients):
            last = 16384 if i == nodes - 1 else (i + 1) * per_node
            client.execute_command("CLUSTER ADDSLOTS", *range(i * per_node, last))
        for port in ports[1:]:
            clients[0].execute_command("CLUSTER MEET", "127.0.0.1", port)
        _wait(
            lambda: all(_cluster_ok(c) for c in clients),
            "cluster_state:ok",
        )
        for client in clients:
            client.close()
        yield "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in ports)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _cluster_ok(client: Any) -> bool:
    info = client.execute_command("CLUSTER INFO")  # redis-py parses it into a dict
    state = info.get("cluster_state") if isinstance(info, dict) else None
    return state in ("ok", b"ok")


def _pings(client: Any) -> bool:
    try:
        return bool(client.ping())
    except Exception:
        return False


def _wait(check: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


class Outage:
    """A TCP relay to a service that can be cut and restored, to test outages and recovery."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def cut(self) -> None:
        """Refuse new connections and drop the open ones."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (OSError, ConnectionError):
        pass
    finally:
        writer.transport.abort()


# Fixtures, importable by any conftest (`from tests.backends import redis_cluster`).


@pytest.fixture
def postgresql_url() -> Iterator[str]:
    with fresh_postgresql() as url:
        yield url


@pytest.fixture
def mysql_url() -> Iterator[str]:
    with fresh_mysql() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def fresh_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a new, empty registry database of each kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/authgate.db"
    elif request.param == "postgresql":
        with fresh_postgresql() as url:
            yield url
    else:
        with fresh_mysql() as url:
            yield url


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with start_redis_cluster(tmp_path_factory.mktemp("redis-cluster")) as url:
        yield url
