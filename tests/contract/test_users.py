"""The UserRepository contract, for the Local User Store, LDAP (a real slapd) and a user policy.

Every contract case runs on all three, an unreachable repository among them; the outage cases
after those drive a directory server (hung, stopped, speaking no TLS), so they are LDAP's alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from authgate.config import LdapSettings
from authgate.db import create_engine, migrate
from authgate.errors import StoreUnavailable
from authgate.models import User
from authgate.policies import load_policy
from authgate.registry import Registry
from authgate.users.base import UserRepository
from authgate.users.local import LocalUsers
from authgate.users.policy import PolicyUsers
from tests.slapd import PEOPLE, ROOT_DN, ROOT_PASSWORD, TWIN, TWIN_PASSWORD, USERS, WEIRD, Slapd
from tests.slapd import start_slapd as _start_slapd

pytestmark = pytest.mark.anyio

INJECTIONS = ["*)(uid=*", "*", "alice)(|(uid=*", "al*", "alice\x00", "(uid=alice)"]


@pytest.fixture(scope="module")
def slapd(tmp_path_factory: pytest.TempPathFactory):
    with _start_slapd(tmp_path_factory.mktemp("slapd")) as directory:
        yield directory


def _ldap(url: str, **extra: Any) -> Any:
    from authgate.users.ldap import LdapUsers

    settings = {
        "url": url,
        "user_base": PEOPLE,
        "bind_dn": ROOT_DN,
        "bind_password": ROOT_PASSWORD,
        "timeout": 1,
    } | extra
    return LdapUsers(LdapSettings.model_validate(settings))


@pytest.fixture(params=["local", "ldap", "policy"])
async def users(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[UserRepository]:
    """Each repository, knowing the people of tests.slapd.USERS."""
    if request.param == "local":
        engine = create_engine(f"sqlite:///{tmp_path}/registry.db")
        await migrate(engine)
        registry = Registry(engine)
        for username, password in USERS.items():
            await registry.create_user(username, password)
        try:
            yield LocalUsers(registry)
        finally:
            await engine.dispose()
        return
    repository: UserRepository
    if request.param == "ldap":
        directory: Slapd = request.getfixturevalue("slapd")
        repository = _ldap(directory.url)
    else:  # as `[flows.password] users = "policy"` loads it
        repository = PolicyUsers(load_policy("tests.policies:directory", "flows.password.policy"))
    try:
        yield repository
    finally:
        await repository.close()


async def _authenticate(users: UserRepository, username: str, password: str) -> User | None:
    return await users.authenticate(username, password, client_id="app", attributes={})


async def test_right_password_gives_the_login_name(users: UserRepository) -> None:
    await users.ping()
    for username, password in USERS.items():
        assert await _authenticate(users, username, password) == User(username, username)


async def test_wrong_unknown_and_empty_are_refused(users: UserRepository) -> None:
    assert await _authenticate(users, "alice", "wrong") is None
    assert await _authenticate(users, "alice", USERS["bob"]) is None
    assert await _authenticate(users, "nobody", "alice-password") is None
    # RFC 4513 section 5.1.2: an empty password would be an unauthenticated bind.
    assert await _authenticate(users, "alice", "") is None
    assert await _authenticate(users, "", "") is None
    # Two entries with one uid: ambiguous, so nobody.
    assert await _authenticate(users, TWIN, TWIN_PASSWORD) is None


async def test_filter_metacharacters_are_escaped_rfc4515(users: UserRepository) -> None:
    assert await _authenticate(users, WEIRD, USERS[WEIRD]) == User(WEIRD, WEIRD)
    for username in INJECTIONS:
        for password in (USERS["alice"], TWIN_PASSWORD):
            assert await _authenticate(users, username, password) is None, username


async def test_concurrent_authentications_get_their_own_answers(users: UserRepository) -> None:
    attempts = [
        (name, password if i % 2 else "wrong")
        for i, (name, password) in enumerate(list(USERS.items()) * 4)
    ]
    answers = await asyncio.gather(*(_authenticate(users, n, p) for n, p in attempts))
    for (name, password), answer in zip(attempts, answers, strict=True):
        assert answer == (User(name, name) if password != "wrong" else None)


# LDAP outages: never a verdict the directory did not give.


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@contextlib.contextmanager
def _silent_server():
    """Accepts connections and never answers: a hung directory."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        listener.close()


@pytest.fixture(params=["local", "ldap", "policy"])
async def unreachable(request: pytest.FixtureRequest) -> AsyncIterator[UserRepository]:
    """Each repository with nothing behind it: a registry database and a directory at closed
    ports, a policy whose own backend is down."""
    if request.param == "local":
        engine = create_engine(f"postgresql://postgres@127.0.0.1:{_closed_port()}/test")
        try:
            yield LocalUsers(Registry(engine))
        finally:
            await engine.dispose()
        return
    repository: UserRepository
    if request.param == "ldap":
        repository = _ldap(f"ldap://127.0.0.1:{_closed_port()}")
    else:
        repository = PolicyUsers(load_policy("tests.policies:broken", "flows.password.policy"))
    try:
        yield repository
    finally:
        await repository.close()


async def test_an_unreachable_repository_gives_no_verdict(unreachable: UserRepository) -> None:
    for password in ("alice-password", "wrong"):
        with pytest.raises(StoreUnavailable):
            await _authenticate(unreachable, "alice", password)


async def test_an_unreachable_repository_fails_its_ping(
    unreachable: UserRepository, request: pytest.FixtureRequest
) -> None:
    if request.node.callspec.params["unreachable"] == "policy":
        pytest.skip("a policy is code in the server process: there is nothing to ping")
    with pytest.raises(StoreUnavailable):
        await unreachable.ping()


async def test_ldap_hung_directory_times_out_as_store_unavailable() -> None:
    with _silent_server() as port:
        users = _ldap(f"ldap://127.0.0.1:{port}")
        started = time.monotonic()
        try:
            with pytest.raises(StoreUnavailable):
                await _authenticate(users, "alice", "alice-password")
        finally:
            await users.close()
        assert time.monotonic() - started < 5


async def test_ldap_stopped_directory_then_restarted(tmp_path: Path) -> None:
    with _start_slapd(tmp_path) as directory:
        users = _ldap(directory.url)
        try:
            assert await _authenticate(users, "alice", USERS["alice"]) is not None
            directory.stop()
            with pytest.raises(StoreUnavailable):
                await _authenticate(users, "alice", USERS["alice"])
            with pytest.raises(StoreUnavailable):
                await _authenticate(users, "alice", "wrong")
            directory.start()
            assert await _authenticate(users, "alice", USERS["alice"]) is not None
        finally:
            await users.close()


async def test_ldaps_without_a_trusted_certificate_is_store_unavailable(slapd: Slapd) -> None:
    # slapd answers plain LDAP on this port: the TLS handshake fails, so no verdict.
    users = _ldap(f"ldaps://127.0.0.1:{slapd.port}")
    try:
        with pytest.raises(StoreUnavailable):
            await _authenticate(users, "alice", USERS["alice"])
    finally:
        await users.close()
