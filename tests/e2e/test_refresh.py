"""The refresh token grant (RFC 6749 section 6): modes, rotation, replay, grace period."""

from __future__ import annotations

import sqlite3
import time

import httpx
from authlib.integrations.httpx_client import OAuth2Client

from tests.e2e.oauth import (
    Introspector,
    assert_error,
    assert_tokens,
    concurrent_posts,
    endpoint,
    token_request,
)
from tests.e2e.server import run_server

SCOPES = ["read", "write"]


def setup(server, grants=("password", "refresh_token"), scopes=SCOPES):
    """A client and a user; returns the client's auth and a first token response."""
    server.create_user("alice", "alice-password")
    client, secret = server.create_client("app", grant_types=list(grants), scopes=list(scopes))
    auth = (client.client_id, secret)
    first = assert_tokens(
        token_request(
            server,
            {"grant_type": "password", "username": "alice", "password": "alice-password"},
            auth,
        )
    )
    return auth, first


def refresh(server, auth, refresh_token, scope=None):
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    if scope is not None:
        data["scope"] = scope
    return token_request(server, data, auth)


def test_mode_new_rotates_with_authlib(server):
    auth, first = setup(server)
    with OAuth2Client(*auth, token=first) as oauth:
        second = oauth.refresh_token(endpoint(server, "token_endpoint"))
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert len(second["refresh_token"]) == 46
    assert len(second["access_token"]) == 54
    assert second["expires_in"] == 3600
    assert second["scope"] == "read write"
    introspect = Introspector(server)
    answer = introspect(second["access_token"])
    assert answer["active"] is True
    assert (answer["sub"], answer["username"]) == ("alice", "alice")
    # The presented refresh token is removed; the access token issued before stays valid.
    assert introspect(first["refresh_token"]) == {"active": False}
    assert introspect(first["access_token"])["active"] is True
    assert "refresh_token" in server.metadata()["grant_types_supported"]


def test_replay_of_a_rotated_token_revokes_the_family_rfc9700_4_14_2(server):
    auth, first = setup(server)
    second = assert_tokens(refresh(server, auth, first["refresh_token"]))
    third = assert_tokens(refresh(server, auth, second["refresh_token"]))
    assert_error(refresh(server, auth, first["refresh_token"]), "invalid_grant")
    introspect = Introspector(server)
    for token in (
        first["access_token"],
        second["access_token"],
        third["access_token"],
        third["refresh_token"],
    ):
        assert introspect(token) == {"active": False}
    assert_error(refresh(server, auth, third["refresh_token"]), "invalid_grant")


def test_mode_none_issues_only_an_access_token_and_removes_the_refresh_token(tmp_path):
    with run_server(tmp_path, {"flows.refresh_token.tokens.refresh": "none"}) as server:
        auth, first = setup(server)
        assert "refresh_token" in first  # the password flow keeps [tokens] refresh = "new"
        second = assert_tokens(refresh(server, auth, first["refresh_token"]))
        assert "refresh_token" not in second
        introspect = Introspector(server)
        assert introspect(second["access_token"])["active"] is True
        assert_error(refresh(server, auth, first["refresh_token"]), "invalid_grant")
        assert introspect(second["access_token"]) == {"active": False}  # replay revoked


def test_mode_preserve_returns_the_presented_token_unchanged(tmp_path):
    with run_server(tmp_path, {"tokens.refresh": "preserve"}) as server:
        auth, first = setup(server)
        assert "refresh_token" in first  # none presented: issued as with "new"
        introspect = Introspector(server)
        for _ in range(3):
            again = assert_tokens(refresh(server, auth, first["refresh_token"]))
            assert again["refresh_token"] == first["refresh_token"]
            assert again["access_token"] != first["access_token"]
            assert introspect(again["access_token"])["active"] is True
        assert introspect(first["refresh_token"])["active"] is True
        # Revoking the preserved refresh token revokes the access tokens issued with it.
        answer = httpx.post(
            f"{server.url}/oauth2/revoke", data={"token": first["refresh_token"]}, auth=auth
        )
        assert answer.status_code == 200
        assert introspect(again["access_token"]) == {"active": False}


def test_per_flow_override_of_refresh_mode_and_token_settings(tmp_path):
    config = {
        "tokens.refresh": "none",
        "flows.password.tokens.refresh": "new",
        "flows.refresh_token.tokens.refresh": "preserve",
        "flows.refresh_token.tokens.access_token_expiry": "120",
        "flows.refresh_token.tokens.access_token_length": "64",
        "flows.refresh_token.tokens.access_token_type": "Refreshed",
    }
    with run_server(tmp_path, config) as server:
        auth, first = setup(server)
        assert first["expires_in"] == 3600
        second = assert_tokens(refresh(server, auth, first["refresh_token"]))
        assert second["refresh_token"] == first["refresh_token"]
        assert second["expires_in"] == 120
        assert second["token_type"] == "Refreshed"
        assert len(second["access_token"]) == 64


def test_refresh_token_length_and_expiry(tmp_path):
    config = {"tokens.refresh_token_length": "30", "tokens.refresh_token_expiry": "1"}
    with run_server(tmp_path, config) as server:
        auth, first = setup(server)
        assert len(first["refresh_token"]) == 30
        time.sleep(1.1)
        assert_error(refresh(server, auth, first["refresh_token"]), "invalid_grant")


def test_metadata_carries_over(tmp_path):
    config = {
        "flows.password.tokens.metadata": '{"Department": "Engineering"}',
        "flows.refresh_token.tokens.metadata": '{"Refreshed": "yes"}',
    }
    with run_server(tmp_path, config) as server:
        auth, first = setup(server)
        second = assert_tokens(refresh(server, auth, first["refresh_token"]))
        metadata = Introspector(server)(second["access_token"])["metadata"]
        assert metadata == {"Department": "Engineering", "Refreshed": "yes"}


def test_scope_may_narrow_never_widen_rfc6749_6(server):
    auth, first = setup(server)
    narrowed = assert_tokens(refresh(server, auth, first["refresh_token"], "read"))
    assert narrowed["scope"] == "read"
    assert Introspector(server)(narrowed["access_token"])["scope"] == "read"
    # The new refresh token keeps the original scope.
    whole = assert_tokens(refresh(server, auth, narrowed["refresh_token"]))
    assert whole["scope"] == "read write"
    assert_error(refresh(server, auth, whole["refresh_token"], "read admin"), "invalid_scope")
    # A refused widening does not consume the token.
    assert assert_tokens(refresh(server, auth, whole["refresh_token"]))["scope"] == "read write"


def test_scope_policy_in_the_refresh_flow(tmp_path):
    config = {
        "flows.refresh_token.scopes": "policy",
        "flows.refresh_token.scopes_policy": "tests.policies:scopes_for_user",
    }
    with run_server(tmp_path, config) as server:
        server.create_user("bob", "bob-password")
        auth, first = setup(server)
        assert assert_tokens(refresh(server, auth, first["refresh_token"]))["scope"] == (
            "read write"
        )


def test_scope_policy_that_raises_is_503(tmp_path):
    config = {
        "flows.refresh_token.scopes": "policy",
        "flows.refresh_token.scopes_policy": "tests.policies:broken",
    }
    with run_server(tmp_path, config) as server:
        auth, first = setup(server)
        assert_error(refresh(server, auth, first["refresh_token"]), "temporarily_unavailable", 503)
        # Nothing was consumed by the failed attempt.
        assert Introspector(server).active(first["refresh_token"])


def test_another_clients_token_is_invalid_grant_and_stays_valid(server):
    auth, first = setup(server)
    other, secret = server.create_client("other", grant_types=["refresh_token"])
    assert_error(
        refresh(server, (other.client_id, secret), first["refresh_token"]), "invalid_grant"
    )
    assert_tokens(refresh(server, auth, first["refresh_token"]))


def test_client_without_the_grant_is_unauthorized_client(server):
    _, first = setup(server)
    other, secret = server.create_client("other", grant_types=["password"])
    assert_error(
        refresh(server, (other.client_id, secret), first["refresh_token"]), "unauthorized_client"
    )


def test_unknown_missing_and_access_tokens_are_refused(server):
    auth, first = setup(server)
    assert_error(refresh(server, auth, "x" * 46), "invalid_grant")
    assert_error(refresh(server, auth, first["access_token"]), "invalid_grant")
    assert_error(token_request(server, {"grant_type": "refresh_token"}, auth), "invalid_request")


def test_50_concurrent_refreshes_exactly_one_succeeds(server):
    auth, first = setup(server)
    data = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    responses = concurrent_posts(f"{server.url}/oauth2/token", [(data, auth)] * 50)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [400] * 49
    assert {r.json()["error"] for r in responses if r.status_code == 400} == {"invalid_grant"}


def test_grace_period_returns_the_same_successor_to_the_same_client(tmp_path):
    with run_server(tmp_path, {"flows.refresh_token.tokens.refresh_grace_period": "30"}) as server:
        auth, first = setup(server)
        second = assert_tokens(refresh(server, auth, first["refresh_token"]))
        again = assert_tokens(refresh(server, auth, first["refresh_token"]))
        assert again["access_token"] == second["access_token"]
        assert again["refresh_token"] == second["refresh_token"]
        # The successor is sealed: the store holds none of the issued tokens in plaintext.
        connection = sqlite3.connect(tmp_path / "authgate.db")
        stored = [row[0] for row in connection.execute("SELECT data FROM tokens")]
        connection.close()
        assert any('"successor"' in data for data in stored)
        for body in (first, second):
            for token in (body["access_token"], body["refresh_token"]):
                assert all(token not in data for data in stored)
        # Another client gets nothing and revokes nothing.
        other, secret = server.create_client("other", grant_types=["refresh_token"])
        assert_error(
            refresh(server, (other.client_id, secret), first["refresh_token"]), "invalid_grant"
        )
        introspect = Introspector(server)
        assert introspect.active(second["access_token"])
        # Once the successor is used, the old token is a replay again.
        third = assert_tokens(refresh(server, auth, second["refresh_token"]))
        assert_error(refresh(server, auth, first["refresh_token"]), "invalid_grant")
        assert not introspect.active(third["access_token"])


def test_grace_period_lets_concurrent_refreshes_share_one_successor(tmp_path):
    with run_server(tmp_path, {"flows.refresh_token.tokens.refresh_grace_period": "30"}) as server:
        auth, first = setup(server)
        data = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
        responses = concurrent_posts(f"{server.url}/oauth2/token", [(data, auth)] * 10)
        assert [r.status_code for r in responses] == [200] * 10
        assert len({r.json()["refresh_token"] for r in responses}) == 1


def test_grace_period_ends(tmp_path):
    with run_server(tmp_path, {"flows.refresh_token.tokens.refresh_grace_period": "1"}) as server:
        auth, first = setup(server)
        second = assert_tokens(refresh(server, auth, first["refresh_token"]))
        time.sleep(2.1)
        assert_error(refresh(server, auth, first["refresh_token"]), "invalid_grant")
        assert not Introspector(server).active(second["refresh_token"])


def test_rotation_replay_and_grace_on_the_memory_store(tmp_path):
    config = {
        "storage.tokens": "memory://",
        "flows.refresh_token.tokens.refresh_grace_period": "30",
    }
    with run_server(tmp_path, config) as server:
        auth, first = setup(server)
        second = assert_tokens(refresh(server, auth, first["refresh_token"]))
        assert (
            assert_tokens(refresh(server, auth, first["refresh_token"]))["refresh_token"]
            == (second["refresh_token"])
        )
        assert_tokens(refresh(server, auth, second["refresh_token"]))
        assert_error(refresh(server, auth, first["refresh_token"]), "invalid_grant")
        assert_error(refresh(server, auth, second["refresh_token"]), "invalid_grant")
