"""Lockout over real HTTP: concurrent logins of one user, on every registry backend."""

from __future__ import annotations

import asyncio

import pytest

from tests.backends import (
    fresh_database,  # noqa: F401 - a fixture, asked for by name
    migrated,
)
from tests.e2e.oauth import concurrent_posts
from tests.e2e.server import run_server


def test_16_concurrent_correct_passwords_all_succeed_four_rounds(tmp_path, fresh_database):  # noqa: F811
    """Finding 12: some of these were refused as wrong passwords while others reset the row."""
    asyncio.run(migrated(fresh_database))  # as `authgate migrate` does for a server database
    with run_server(tmp_path, {"storage.url": fresh_database}) as server:
        server.create_user("alice", "alice-password")
        client, secret = server.create_client("app", grant_types=["password"], scopes=["read"])
        data = {"grant_type": "password", "username": "alice", "password": "alice-password"}
        for _ in range(4):
            responses = concurrent_posts(
                f"{server.url}/oauth2/token", [(data, (client.client_id, secret or ""))] * 16
            )
            assert [r.status_code for r in responses] == [200] * 16, [
                r.json() for r in responses if r.status_code != 200
            ]


@pytest.mark.parametrize("wrong", [3, 9])
def test_concurrent_wrong_passwords_below_the_limit_refuse_no_right_one(tmp_path, wrong):
    with run_server(tmp_path) as server:
        server.create_user("alice", "alice-password")
        client, secret = server.create_client("app", grant_types=["password"], scopes=["read"])
        auth = (client.client_id, secret or "")
        right = {"grant_type": "password", "username": "alice", "password": "alice-password"}
        bad = right | {"password": "wrong"}
        requests = [(bad, auth)] * wrong + [(right, auth)] * 12
        statuses = [r.status_code for r in concurrent_posts(f"{server.url}/oauth2/token", requests)]
        assert statuses == [400] * wrong + [200] * 12
