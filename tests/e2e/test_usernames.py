"""Canonical usernames over real HTTP and on the command line (SPEC.md, "Hardening")."""

from __future__ import annotations

import json

import pytest

from tests.e2e.oauth import Introspector, assert_error, assert_tokens, token_request
from tests.e2e.server import run_server
from tests.e2e.test_cli import authgate, ok

FULLWIDTH_ALICE = "\uff41\uff4c\uff49\uff43\uff45"
VARIANTS = ["Alice", " alice", FULLWIDTH_ALICE, "ali\u00adce"]


def grant(server, auth, username, password):
    data = {"grant_type": "password", "username": username, "password": password}
    return token_request(server, data, auth)


def test_name_variants_are_one_user_with_one_lockout_counter(tmp_path):
    """Finding 7: each variant had a counter of its own while `alice` was locked."""
    config = {"lockout.max_failures": "4", "lockout.wait": "600"}
    with run_server(tmp_path, config) as server:
        server.create_user("Alice", "alice-password")
        client, secret = server.create_client("app", grant_types=["password"], scopes=["read"])
        auth = (client.client_id, secret or "")
        for name in VARIANTS:
            body = assert_tokens(grant(server, auth, name, "alice-password"))
            answer = Introspector(server)(body["access_token"])
            assert (answer["sub"], answer["username"]) == ("alice", "alice")
        for name in VARIANTS:  # four failures, one under each spelling: alice is locked
            assert_error(grant(server, auth, name, "wrong"), "invalid_grant")
        for name in ["alice", *VARIANTS]:
            assert_error(grant(server, auth, name, "alice-password"), "invalid_grant")


def test_user_create_stores_and_prints_the_canonical_name(tmp_path):
    created = authgate(
        tmp_path, "user", "create", "Ali\u00adce", "--password-stdin", "--json", stdin="pw\n"
    )
    assert json.loads(ok(created))["username"] == "alice"
    assert "alice" in created.stderr  # says the name was stored in canonical form
    again = authgate(tmp_path, "user", "create", FULLWIDTH_ALICE, "--password-stdin", stdin="x\n")
    assert again.returncode == 2
    assert again.stderr.count("\n") == 1 and "already exists" in again.stderr


@pytest.mark.parametrize("name", ["", "ali\nce", "\u00ad"])
def test_user_create_refuses_a_name_without_a_canonical_form(tmp_path, name):
    result = authgate(tmp_path, "user", "create", name, "--password-stdin", stdin="pw\n")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "username" in result.stderr
