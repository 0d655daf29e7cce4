"""Canonical usernames through the one door of the login page and the password grant
(UserAuthentication), on every registry backend and on every user repository.

`Alice`, ` alice`, a fullwidth `alice` and `ali\u00adce` are one user, with one lockout
counter, and are reported by the stored name; letters that differ stay different users,
whatever the database's collation.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from authgate.config import LockoutSettings
from authgate.db import create_engine, migrate
from authgate.events import Events
from authgate.passwords import hash_password
from authgate.policies import load_policy
from authgate.registry import AlreadyExists, Registry
from authgate.usernames import InvalidUsername
from authgate.users.authentication import UserAuthentication
from authgate.users.base import UserRepository
from authgate.users.local import LocalUsers
from authgate.users.lockout import Lockout
from authgate.users.policy import PolicyUsers
from tests.backends import fresh_database  # noqa: F401 - a fixture, asked for by name
from tests.contract.test_sessions import on
from tests.contract.test_users import _ldap
from tests.contract.test_users import slapd as slapd  # a fixture, asked for by name
from tests.slapd import CAPITALISED, CAPITALISED_PASSWORD

pytestmark = pytest.mark.anyio

VARIANTS = ["Alice", " alice", "\uff41\uff4c\uff49\uff43\uff45", "ali\u00adce", "ALICE\u200b"]
SETTINGS = LockoutSettings(max_failures=3, wait=600, max_wait=900, reset=3600)


@pytest.fixture
async def registry(fresh_database: str) -> AsyncIterator[Registry]:  # noqa: F811
    engine = create_engine(fresh_database)
    await migrate(engine)
    try:
        yield Registry(engine)
    finally:
        await engine.dispose()


@pytest.fixture
async def sqlite_registry(tmp_path: Path) -> AsyncIterator[Registry]:
    engine = create_engine(f"sqlite:///{tmp_path}/registry.db")
    await migrate(engine)
    try:
        yield Registry(engine)
    finally:
        await engine.dispose()


def door(users: UserRepository, registry: Registry) -> UserAuthentication:
    return UserAuthentication(users, Lockout(registry, SETTINGS), Events(), "subject")


async def login(authentication: UserAuthentication, username: str, password: str):
    return await authentication.authenticate(
        username, password, client_id="app", attributes={}, scopes=()
    )


async def assert_one_user_and_one_counter(authentication, stored: str, password: str) -> None:
    for name in VARIANTS:
        user = await login(authentication, name, password)
        assert user is not None, name
        assert (user.username, user.subject) == (stored, stored)
    for name in VARIANTS[: SETTINGS.max_failures]:  # one failure under each spelling ...
        assert await login(authentication, name, "wrong") is None
    for name in ["alice", *VARIANTS]:  # ... and every spelling is locked
        assert await login(authentication, name, password) is None


async def test_local_users_on_every_registry_backend(registry):
    assert await registry.create_user("Alice", "alice-password") == "alice"
    for name in VARIANTS:
        with pytest.raises(AlreadyExists):
            await registry.create_user(name, "other")
    await assert_one_user_and_one_counter(
        door(LocalUsers(registry), registry), "alice", "alice-password"
    )


async def test_names_that_differ_in_letters_are_distinct_users_whatever_the_collation(registry):
    """MariaDB's default collation matches `é` to `e`: not for usernames."""
    authentication = door(LocalUsers(registry), registry)
    names = ["alice", "alicé", "bob", "böb"]
    for name in names:
        assert await registry.create_user(name, f"{name}-password") == name
    for name in names:
        user = await login(authentication, name, f"{name}-password")
        assert user is not None and user.username == name
    assert await login(authentication, "alice", "alicé-password") is None
    assert await login(authentication, "böb", "bob-password") is None


@pytest.mark.parametrize("repository", ["ldap", "policy"])
async def test_directory_and_policy_users(request, sqlite_registry, repository):
    users: UserRepository
    if repository == "ldap":
        users = _ldap(request.getfixturevalue("slapd").url)
    else:
        users = PolicyUsers(load_policy("tests.policies:directory", "flows.password.policy"))
    try:
        await assert_one_user_and_one_counter(
            door(users, sqlite_registry), "alice", "alice-password"
        )
    finally:
        await users.close()


async def test_ldap_reports_the_name_the_directory_stores(sqlite_registry, slapd):
    users = _ldap(slapd.url)
    try:
        authentication = door(users, sqlite_registry)
        for name in ("carol", "CAROL", " Carol", "car\u00adol"):
            user = await login(authentication, name, CAPITALISED_PASSWORD)
            assert user is not None
            assert (user.username, user.subject) == (CAPITALISED, CAPITALISED)
    finally:
        await users.close()


@pytest.mark.parametrize("name", ["", "  ", "\u00ad", "alice\x00", "ali\nce"])
async def test_a_name_without_a_canonical_form_is_nobody(sqlite_registry, name):
    with pytest.raises(InvalidUsername):
        await sqlite_registry.create_user(name, "password")
    assert await sqlite_registry.user_password_hash(name) is None
    calls: list[str] = []

    class Counting(LocalUsers):
        async def authenticate(self, username, password, **kwargs):
            calls.append(username)
            return await super().authenticate(username, password, **kwargs)

    assert await login(door(Counting(sqlite_registry), sqlite_registry), name, "pw") is None
    assert calls == []


def test_migration_0004_stores_existing_names_in_canonical_form(fresh_database):  # noqa: F811
    # `Bob` would merge with `bob`: left alone. (MariaDB's collation took them for one name.)
    names = ["Alice"] if fresh_database.startswith("mysql") else ["Alice", "Bob", "bob"]

    async def before(engine, registry: Registry) -> None:
        async with engine.begin() as conn:
            for name in names:
                await conn.execute(
                    text(
                        "INSERT INTO users (username, password_hash, created_at) "
                        "VALUES (:name, :hash, 0)"
                    ),
                    {"name": name, "hash": await hash_password(f"{name}-password")},
                )
            await conn.execute(
                text(
                    "INSERT INTO consents (username, client_id, scopes, updated_at) "
                    "VALUES ('Alice', 'app', '[\"read\"]', 0)"
                )
            )

    async def upgraded(engine, registry: Registry) -> None:
        assert await registry.consents.remembered_scopes("alice", "app") == {"read"}
        authentication = door(LocalUsers(registry), registry)
        alice = await login(authentication, "ALICE", "Alice-password")
        assert alice is not None and alice.username == "alice"
        if "bob" in names:
            bob = await login(authentication, "Bob", "bob-password")
            assert bob is not None and bob.username == "bob"

    on(fresh_database, before, at="0003")
    on(fresh_database, upgraded, at="0004")
