"""Token revocation (RFC 7009)."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
from authlib.integrations.httpx_client import OAuth2Client

from tests.e2e.oauth import Introspector, assert_error, assert_tokens, endpoint, token_request


def issue(server, public=False):
    """A client with a password-grant token pair for alice."""
    server.create_user("alice", "alice-password")
    client, secret = server.create_client(
        "app", grant_types=["password", "refresh_token"], scopes=["read"], is_public=public
    )
    auth = (client.client_id, secret)
    body = assert_tokens(
        token_request(
            server,
            {"grant_type": "password", "username": "alice", "password": "alice-password"},
            auth,
        )
    )
    return auth, body


def revoke(server, data, auth=None):
    return httpx.post(f"{server.url}/oauth2/revoke", data=data, auth=auth)


def assert_revoke_ok(response):
    assert response.status_code == 200, response.text
    assert response.content in (b"", b"{}")
    assert response.headers["cache-control"] == "no-store"


def test_revoke_an_access_token_with_authlib(server):
    auth, body = issue(server)
    assert server.metadata()["revocation_endpoint"].endswith("/oauth2/revoke")
    with OAuth2Client(*auth) as oauth:
        response = oauth.revoke_token(
            endpoint(server, "revocation_endpoint"),
            body["access_token"],
            token_type_hint="access_token",
        )
    assert_revoke_ok(response)
    introspect = Introspector(server)
    assert introspect(body["access_token"]) == {"active": False}
    assert introspect.active(body["refresh_token"])  # only the access token was revoked


def test_revoking_a_refresh_token_revokes_its_access_tokens_rfc7009_2_1(server):
    auth, body = issue(server)
    refreshed = assert_tokens(
        token_request(
            server, {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}, auth
        )
    )
    assert_revoke_ok(
        revoke(
            server, {"token": refreshed["refresh_token"], "token_type_hint": "refresh_token"}, auth
        )
    )
    introspect = Introspector(server)
    for token in (body["access_token"], refreshed["access_token"], refreshed["refresh_token"]):
        assert introspect(token) == {"active": False}
    assert_error(
        token_request(
            server,
            {"grant_type": "refresh_token", "refresh_token": refreshed["refresh_token"]},
            auth,
        ),
        "invalid_grant",
    )


def test_a_wrong_hint_is_only_a_hint(server):
    auth, body = issue(server)
    assert_revoke_ok(
        revoke(server, {"token": body["refresh_token"], "token_type_hint": "access_token"}, auth)
    )
    assert not Introspector(server).active(body["access_token"])
    assert_revoke_ok(revoke(server, {"token": "x", "token_type_hint": "something_else"}, auth))


def test_unknown_token_answers_200_rfc7009_2_2(server):
    auth, _ = issue(server)
    assert_revoke_ok(revoke(server, {"token": "no-such-token"}, auth))


def test_another_clients_token_is_not_revoked_but_answers_200(server):
    _, body = issue(server)
    other, secret = server.create_client("other", grant_types=["password"])
    assert_revoke_ok(revoke(server, {"token": body["access_token"]}, (other.client_id, secret)))
    assert_revoke_ok(revoke(server, {"token": body["refresh_token"]}, (other.client_id, secret)))
    introspect = Introspector(server)
    assert introspect.active(body["access_token"])
    assert introspect.active(body["refresh_token"])


def test_public_client_revokes_its_own_token_with_client_id_alone(server):
    (client_id, _), body = issue(server, public=True)
    assert_revoke_ok(revoke(server, {"token": body["access_token"], "client_id": client_id}))
    assert not Introspector(server).active(body["access_token"])


def test_client_authentication_is_required(server):
    auth, body = issue(server)
    response = revoke(server, {"token": body["access_token"]})
    assert_error(response, "invalid_client", 401)
    wrong = revoke(server, {"token": body["access_token"]}, (auth[0], "wrong"))
    assert_error(wrong, "invalid_client", 401)
    assert wrong.headers["www-authenticate"].startswith("Basic realm=")
    assert Introspector(server).active(body["access_token"])


def test_missing_or_repeated_token_is_invalid_request(server):
    auth, _ = issue(server)
    assert_error(revoke(server, {"token_type_hint": "access_token"}, auth), "invalid_request")
    repeated = httpx.post(
        f"{server.url}/oauth2/revoke",
        content="token=a&token=b",
        auth=auth,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_error(repeated, "invalid_request")
    json_body = httpx.post(f"{server.url}/oauth2/revoke", json={"token": "a"}, auth=auth)
    assert_error(json_body, "invalid_request")


def test_revocation_by_the_cli_too(server, tmp_path):
    _, body = issue(server)
    environ = dict(os.environ, AUTHGATE_STORAGE__URL=f"sqlite:///{tmp_path}/authgate.db")
    for token in (body["refresh_token"], "unknown-token"):
        result = subprocess.run(
            [sys.executable, "-m", "authgate.cli", "token", "revoke", token],
            env=environ,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
    assert not Introspector(server).active(body["access_token"])
