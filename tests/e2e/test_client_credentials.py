"""The client credentials grant (RFC 6749 section 4.4)."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest
from authlib.integrations.httpx_client import OAuth2Client

from tests.e2e.oauth import Introspector, assert_error, assert_tokens, endpoint, token_request
from tests.e2e.server import run_server

GRANT = {"grant_type": "client_credentials"}


def service(server, scopes=("photos.read", "photos.write"), grants=("client_credentials",)):
    client, secret = server.create_client("svc", grant_types=list(grants), scopes=list(scopes))
    return client.client_id, secret


def test_defaults_with_authlib_no_refresh_token_rfc6749_4_4_3(server):
    client_id, secret = service(server)
    with OAuth2Client(client_id, secret) as oauth:
        token = oauth.fetch_token(
            endpoint(server, "token_endpoint"), grant_type="client_credentials"
        )
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 3600
    assert len(token["access_token"]) == 54
    assert token["scope"] == "photos.read photos.write"
    assert "refresh_token" not in token
    answer = Introspector(server)(token["access_token"])
    assert answer["active"] is True
    assert answer["client_id"] == client_id
    assert "username" not in answer
    assert "client_credentials" in server.metadata()["grant_types_supported"]


def test_tokens_default_refresh_new_does_not_apply_to_client_credentials(tmp_path):
    with run_server(tmp_path, {"tokens.refresh": "new"}) as server:
        body = assert_tokens(token_request(server, GRANT, service(server)))
        assert "refresh_token" not in body


def test_refresh_token_only_when_the_flow_says_new(tmp_path):
    config = {
        "flows.client_credentials.tokens.refresh": "new",
        "flows.client_credentials.tokens.refresh_token_length": "32",
    }
    with run_server(tmp_path, config) as server:
        auth = service(server, grants=("client_credentials", "refresh_token"))
        body = assert_tokens(token_request(server, GRANT, auth))
        assert len(body["refresh_token"]) == 32
        refreshed = assert_tokens(
            token_request(
                server,
                {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
                auth,
            )
        )
        assert refreshed["scope"] == body["scope"]


def test_per_flow_token_settings_and_metadata(tmp_path):
    config = {
        "flows.client_credentials.tokens.access_token_expiry": "300",
        "flows.client_credentials.tokens.access_token_length": "20",
        "flows.client_credentials.tokens.access_token_type": "MAC",
        "flows.client_credentials.tokens.metadata": '{"Department": "Engineering"}',
    }
    with run_server(tmp_path, config) as server:
        body = assert_tokens(token_request(server, GRANT, service(server)))
        assert (body["expires_in"], body["token_type"], len(body["access_token"])) == (
            300,
            "MAC",
            20,
        )
        answer = Introspector(server)(body["access_token"])
        assert answer["metadata"] == {"Department": "Engineering"}
        assert answer["exp"] - answer["iat"] == 300


@pytest.mark.parametrize(
    ("rule", "scope", "outcome"),
    [
        ("any", "photos.read", "photos.read"),
        ("any", "photos.read admin", "photos.read"),
        ("any", "admin", "invalid_scope"),
        ("all", "photos.read photos.write", "photos.read photos.write"),
        ("all", "photos.read admin", "invalid_scope"),
        ("all", None, "photos.read photos.write"),
    ],
)
def test_scopes_any_and_all(tmp_path, rule, scope, outcome):
    with run_server(tmp_path, {"flows.client_credentials.scopes": rule}) as server:
        data = dict(GRANT) | ({"scope": scope} if scope else {})
        response = token_request(server, data, service(server))
        if outcome == "invalid_scope":
            assert_error(response, "invalid_scope")
        else:
            assert assert_tokens(response)["scope"] == outcome


def test_scope_policy(tmp_path):
    config = {
        "flows.client_credentials.scopes": "policy",
        "flows.client_credentials.scopes_policy": "tests.policies:scopes_for_client",
    }
    with run_server(tmp_path, config) as server:
        data = GRANT | {"scope": "anything"}
        assert assert_tokens(token_request(server, data, service(server)))["scope"] == (
            "anything audit"
        )


def test_scope_policy_that_raises_is_503(tmp_path):
    config = {
        "flows.client_credentials.scopes": "policy",
        "flows.client_credentials.scopes_policy": "tests.policies:broken",
    }
    with run_server(tmp_path, config) as server:
        assert_error(token_request(server, GRANT, service(server)), "temporarily_unavailable", 503)


def test_client_without_the_grant_is_unauthorized_client(server):
    auth = service(server, grants=("authorization_code",))
    assert_error(token_request(server, GRANT, auth), "unauthorized_client")


def test_public_client_is_unauthorized_client(server):
    client, _ = server.create_client("spa", grant_types=["client_credentials"], is_public=True)
    assert_error(token_request(server, GRANT, (client.client_id, None)), "unauthorized_client")


def test_wrong_secret_is_invalid_client_with_basic_challenge(server):
    client_id, _ = service(server)
    response = token_request(server, GRANT, (client_id, "wrong"))
    assert_error(response, "invalid_client", 401)
    assert response.headers["www-authenticate"].startswith("Basic realm=")


def test_client_secret_post_when_the_body_is_allowed(tmp_path):
    with run_server(tmp_path, {"client_auth.location": "any"}) as server:
        client_id, secret = service(server)
        response = httpx.post(
            f"{server.url}/oauth2/token",
            data=GRANT | {"client_id": client_id, "client_secret": secret},
        )
        assert_tokens(response)
        wrong = httpx.post(
            f"{server.url}/oauth2/token",
            data=GRANT | {"client_id": client_id, "client_secret": "wrong"},
        )
        assert_error(wrong, "invalid_client", 401)
        assert "www-authenticate" not in wrong.headers


def test_cli_refuses_a_public_client_for_client_credentials(tmp_path):
    environ = dict(os.environ, AUTHGATE_STORAGE__URL=f"sqlite:///{tmp_path}/authgate.db")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "authgate.cli",
            "client",
            "create",
            "--name",
            "x",
            "--public",
            "--grant-type",
            "client_credentials",
        ],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
