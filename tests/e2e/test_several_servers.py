"""Several `authgate serve` processes, one truth: a PostgreSQL registry and a shared token store
(a Redis Cluster, or the same PostgreSQL), two servers on two ports; then a crash of one of
them mid-traffic; then `serve --workers 2` on one SQLite file."""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from authgate.config import load_settings
from authgate.services import Services
from tests.backends import fresh_database as fresh_database  # a fixture, asked for by name
from tests.backends import fresh_postgresql
from tests.backends import redis_cluster as redis_cluster  # a fixture, asked for by name
from tests.e2e.oauth import assert_error
from tests.e2e.processes import (
    ServeProcess,
    children,
    cli,
    environment,
    owner_of_connection,
    serve,
    serve_many,
    write_config,
)
from tests.slapd import PEOPLE, ROOT_DN, ROOT_PASSWORD, USERS, start_slapd

GRANT = {"grant_type": "client_credentials"}

CONFIG = """\
[storage]
url = "{registry}"
tokens = "{tokens}"

[flows.client_credentials.tokens]
refresh = "new"
"""


@dataclass
class Pair:
    config: Path
    a: ServeProcess
    b: ServeProcess
    resource_server: tuple[str, str]  # may introspect


def create_client(config: Path, name: str, *options: str) -> tuple[str, str]:
    body = json.loads(
        cli(config, "client", "create", "--name", name, "--scope", "read", "--json", *options)
    )
    return body["client_id"], body["client_secret"]


@pytest.fixture(scope="module", params=["redis-cluster", "postgresql"])
def pair(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pair]:
    """Two servers over one fresh PostgreSQL registry and the token store of the param."""
    directory = tmp_path_factory.mktemp("several")
    with fresh_postgresql() as registry:
        tokens = (
            request.getfixturevalue("redis_cluster")
            if request.param == "redis-cluster"
            else registry
        )
        config = write_config(
            directory / "authgate.toml", CONFIG.format(registry=registry, tokens=tokens)
        )
        cli(config, "migrate")
        resource_server = create_client(
            config, "rs", "--grant-type", "client_credentials", "--introspect"
        )
        with serve_many(config, ["a", "b"]) as (a, b):
            yield Pair(config, a, b, resource_server)


@pytest.fixture
async def client(pair: Pair, anyio_backend: str) -> tuple[str, str]:
    """A client of its own for each test (registered in-process: the CLI costs a second).

    Most tests here are plain functions: asking for anyio_backend makes anyio run this one.
    """
    services = await Services.open(load_settings(pair.config, environ={}))
    try:
        client, secret = await services.registry.create_client(
            "svc", scopes=["read"], grant_types=["client_credentials", "refresh_token"]
        )
    finally:
        await services.close()
    assert secret is not None
    return client.client_id, secret


def token(server: ServeProcess, auth: tuple[str, str], data: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{server.url}/oauth2/token", data=data, auth=auth)


def issued(
    server: ServeProcess, auth: tuple[str, str], data: dict[str, str] = GRANT
) -> dict[str, Any]:
    response = token(server, auth, data)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def refresh_data(refresh_token: str) -> dict[str, str]:
    return {"grant_type": "refresh_token", "refresh_token": refresh_token}


def active(pair: Pair, server: ServeProcess, value: str) -> bool:
    response = httpx.post(
        f"{server.url}/oauth2/introspect", data={"token": value}, auth=pair.resource_server
    )
    assert response.status_code == 200, response.text
    return bool(response.json()["active"])


def test_a_token_issued_at_one_server_is_active_at_the_other(pair, client):
    body = issued(pair.a, client)
    assert active(pair, pair.b, body["access_token"])
    assert active(pair, pair.b, body["refresh_token"])


def test_a_refresh_token_rotated_at_one_is_a_replay_at_the_other_rfc9700_4_14_2(pair, client):
    first = issued(pair.a, client)
    second = issued(pair.a, client, refresh_data(first["refresh_token"]))
    assert_error(token(pair.b, client, refresh_data(first["refresh_token"])), "invalid_grant")
    # The replay revoked the family, in the shared store: seen at A at once.
    for value in (first["access_token"], second["access_token"], second["refresh_token"]):
        assert not active(pair, pair.a, value)
    assert_error(token(pair.a, client, refresh_data(second["refresh_token"])), "invalid_grant")


def test_a_revocation_at_one_is_seen_at_the_other_at_once_rfc7009_2(pair, client):
    body = issued(pair.b, client)
    answer = httpx.post(
        f"{pair.a.url}/oauth2/revoke", data={"token": body["refresh_token"]}, auth=client
    )
    assert answer.status_code == 200
    assert not active(pair, pair.b, body["access_token"])
    assert not active(pair, pair.b, body["refresh_token"])


def test_a_client_deleted_by_the_cli_stops_working_at_both_at_once(pair, client):
    tokens = [issued(server, client) for server in (pair.a, pair.b)]
    cli(pair.config, "client", "delete", client[0])
    for server in (pair.a, pair.b):
        assert_error(token(server, client, GRANT), "invalid_client", 401)
        for body in tokens:
            assert not active(pair, server, body["access_token"])
            assert not active(pair, server, body["refresh_token"])


# A crash mid-traffic


@dataclass
class Ledger:
    """What the client saw: every token it received and every refresh token it presented."""

    access: list[str] = field(default_factory=list)
    refresh: list[str] = field(default_factory=list)
    honoured: Counter[str] = field(default_factory=Counter)  # presented -> 200 answers
    unanswered: list[str] = field(default_factory=list)  # presented, connection lost

    def record(self, body: dict[str, Any]) -> None:
        self.access.append(body["access_token"])
        self.refresh.append(body["refresh_token"])


async def traffic_until_killed(
    server: ServeProcess, auth: tuple[str, str], ledger: Ledger, kill_after: int
) -> None:
    """Three loops of client_credentials and three refresh rotation chains, at once; SIGKILL
    the server once `kill_after` tokens came back, with requests of every loop in flight."""
    lost = asyncio.Event()
    limits = httpx.Limits(max_connections=6)
    async with httpx.AsyncClient(base_url=server.url, auth=auth, limits=limits, timeout=10) as http:

        async def post(data: dict[str, str]) -> dict[str, Any] | None:
            try:
                response = await http.post("/oauth2/token", data=data)
            except httpx.TransportError:
                lost.set()
                return None
            assert response.status_code == 200, response.text
            body: dict[str, Any] = response.json()
            ledger.record(body)
            if len(ledger.access) == kill_after:
                server.kill()  # SIGKILL, from inside the traffic
            return body

        async def credentials() -> None:
            while not lost.is_set():
                await post(GRANT)

        async def rotation() -> None:
            body = await post(GRANT)
            while body is not None and not lost.is_set():
                presented = body["refresh_token"]
                body = await post(refresh_data(presented))
                if body is None:
                    ledger.unanswered.append(presented)
                else:
                    ledger.honoured[presented] += 1

        await asyncio.gather(*(credentials() for _ in range(3)), *(rotation() for _ in range(3)))


async def introspect_all(pair: Pair, server: ServeProcess, values: list[str]) -> list[bool]:
    async with httpx.AsyncClient(
        auth=pair.resource_server, timeout=30, limits=httpx.Limits(max_connections=8)
    ) as http:
        answers = await asyncio.gather(
            *(
                http.post(f"{server.url}/oauth2/introspect", data={"token": value})
                for value in values
            )
        )
    assert {a.status_code for a in answers} == {200}
    return [a.json()["active"] for a in answers]


@pytest.mark.anyio
async def test_after_a_crash_every_token_received_is_active_and_none_honoured_twice(pair, client):
    ledger = Ledger()
    with serve(pair.config, name="crashing") as crashing:
        await traffic_until_killed(crashing, client, ledger, kill_after=150)
        assert crashing.process.returncode == -9
    assert len(ledger.access) >= 150
    assert ledger.unanswered, "no refresh was in flight at the crash"
    assert len(set(ledger.access)) == len(ledger.access)
    assert len(set(ledger.refresh)) == len(ledger.refresh)

    # Every 200 the client got is durable: active at B, except refresh tokens it spent.
    presented = set(ledger.honoured) | set(ledger.unanswered)
    unspent = [value for value in ledger.refresh if value not in presented]
    verdicts = await introspect_all(pair, pair.b, ledger.access + unspent)
    assert all(verdicts), f"{verdicts.count(False)} received tokens are not active at B"
    spent = await introspect_all(pair, pair.b, list(ledger.honoured))
    assert not any(spent)

    # A refresh token is honoured once across both servers: an unanswered one either was
    # spent at A (a replay at B) or was not (B honours it); a spent one is a replay at B.
    for value in ledger.unanswered + list(ledger.honoured):
        response = token(pair.b, client, refresh_data(value))
        if response.status_code == 200:
            ledger.honoured[value] += 1
            ledger.access.append(response.json()["access_token"])
        else:
            assert_error(response, "invalid_grant")
    assert max(ledger.honoured.values()) == 1
    assert len(set(ledger.access)) == len(ledger.access)


# One port, two worker processes


def basic(auth: tuple[str, str]) -> str:
    return "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()


def post_form(
    conn: http.client.HTTPConnection,
    path: str,
    data: dict[str, str],
    auth: tuple[str, str],
    status: int = 200,
) -> dict[str, Any]:
    conn.request(
        "POST",
        path,
        body=urlencode(data),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Authorization": basic(auth)},
    )
    response = conn.getresponse()
    body: dict[str, Any] = json.loads(response.read())
    assert response.status == status, body
    return body


def test_serve_with_two_workers_on_one_sqlite_file(tmp_path):
    """A fresh SQLite file: both workers create the schema at start, then share it."""
    config = write_config(
        tmp_path / "authgate.toml", f'[storage]\nurl = "sqlite:///{tmp_path}/authgate.db"\n'
    )
    with serve(config, workers=2) as server:
        client = create_client(config, "svc", "--grant-type", "client_credentials")
        resource_server = create_client(
            config, "rs", "--grant-type", "client_credentials", "--introspect"
        )
        workers = children(server.pid)
        held: list[tuple[http.client.HTTPConnection, int | None, str]] = []
        try:
            # Keep-alive connections until each worker holds one: the kernel hands a new
            # connection to either, and a worker accepts only once its startup is done.
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
                body = post_form(conn, "/oauth2/token", GRANT, client)
                assert conn.sock is not None
                owner = owner_of_connection(server.port, conn.sock.getsockname()[1], workers)
                seen = {held_by for _, held_by, _ in held}
                if owner not in seen or len(held) < 4:
                    held.append((conn, owner, body["access_token"]))
                else:
                    conn.close()
                if len({held_by for _, held_by, _ in held} - {None}) == 2 and len(held) >= 4:
                    break
                time.sleep(0.02)
            if Path("/proc/net/tcp").exists():  # Linux: which worker holds which connection
                owners = {owner for _, owner, _ in held}
                assert len(owners - {None}) == 2, f"workers {workers}, connections to {owners}"
            # Every token issued through one worker is active through every worker.
            for conn, _, _ in held:
                for _, _, issued_there in held:
                    answer = post_form(
                        conn, "/oauth2/introspect", {"token": issued_there}, resource_server
                    )
                    assert answer["active"] is True
            # Both workers have the client in their caches now; the CLI, a third process,
            # deletes it, and the very next request at either worker is refused.
            cli(config, "client", "delete", client[0])
            for conn, _, _ in held:
                refused = post_form(conn, "/oauth2/token", GRANT, client, status=401)
                assert refused["error"] == "invalid_client"
            # A client created meanwhile works at once, in the worker that cached nothing
            # for it as in the other.
            late = create_client(config, "late", "--grant-type", "client_credentials")
            for conn, _, _ in held:
                assert post_form(conn, "/oauth2/token", GRANT, late)["access_token"]
        finally:
            for conn, _, _ in held:
                conn.close()
    assert "Traceback" not in server.log.read_text()


def descendants(pid: int) -> list[int]:
    found = children(pid)
    for child in list(found):
        found += descendants(child)
    return found


def test_serve_workers_load_their_secrets_from_the_file_not_the_environment(tmp_path):
    """Each worker reads the configuration itself: the LDAP service account's password from
    the file works in every worker, and no process of `serve` has it in its environment
    (readable in /proc, inherited by whatever a worker starts)."""
    (tmp_path / "slapd").mkdir()
    with start_slapd(tmp_path / "slapd") as directory:
        config = write_config(
            tmp_path / "authgate.toml",
            f"""\
[storage]
url = "sqlite:///{tmp_path}/authgate.db"

[flows.password]
users = "ldap"

[ldap]
url = "{directory.url}"
bind_dn = "{ROOT_DN}"
bind_password = "{ROOT_PASSWORD}"
user_base = "{PEOPLE}"
""",
        )
        with serve(config, workers=2) as server:
            client = create_client(config, "app", "--grant-type", "password")
            workers = children(server.pid)
            owners: set[int | None] = set()
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and len(owners - {None}) < 2:
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
                try:
                    # A search as the service account: a wrong password would be a 503.
                    body = post_form(
                        conn,
                        "/oauth2/token",
                        {"grant_type": "password", "username": "alice", "password": USERS["alice"]},
                        client,
                    )
                    assert body["access_token"]
                    assert conn.sock is not None
                    owners.add(
                        owner_of_connection(server.port, conn.sock.getsockname()[1], workers)
                    )
                finally:
                    conn.close()
            if Path("/proc/net/tcp").exists():  # Linux: which worker answered
                assert len(owners - {None}) == 2, f"workers {workers}, answers from {owners}"
            # `--port` reached the workers: the default issuer is derived from it.
            metadata = httpx.get(f"{server.url}/.well-known/oauth-authorization-server")
            assert metadata.json()["issuer"] == server.url
            processes = [server.pid, *descendants(server.pid)]
            assert len(processes) >= 3
            for pid in processes:
                environ = Path(f"/proc/{pid}/environ").read_bytes()
                assert ROOT_PASSWORD.encode() not in environ, f"process {pid}"
    assert "Traceback" not in server.log.read_text()


# Several processes migrating one fresh database at once


def test_concurrent_migrations_of_one_fresh_database_all_succeed(fresh_database, tmp_path):
    config = write_config(tmp_path / "authgate.toml", f'[storage]\nurl = "{fresh_database}"\n')
    commands = [
        subprocess.Popen(
            [sys.executable, "-m", "authgate.cli", "--config", str(config), "migrate"],
            env=environment(),
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(3)
    ]
    try:
        outcomes = [process.communicate(timeout=60) for process in commands]
    finally:
        for process in commands:
            if process.poll() is None:
                process.kill()
                process.wait()
    for process, (_, stderr) in zip(commands, outcomes, strict=True):
        assert process.returncode == 0, stderr.decode()
    assert json.loads(cli(config, "client", "list", "--json")) == []
