"""SPEC.md rules of the metadata document and the introspection endpoint, on the wire."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.server import free_port, run_server
from tests.e2e.test_cli import authgate, ok

FORM = "application/x-www-form-urlencoded"


def introspect(server, token, auth=None, **extra):
    return httpx.post(f"{server.url}/oauth2/introspect", data={"token": token, **extra}, auth=auth)


def test_rfc8414_metadata_answers_directly_and_lists_what_is_supported(server):
    server.create_client("a", grant_types=["client_credentials"], scopes=["b.read", "a.write"])
    server.create_client("c", grant_types=["client_credentials"], scopes=["a.write", "c"])
    answer = httpx.get(
        f"{server.url}/.well-known/oauth-authorization-server", follow_redirects=False
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["issuer"] == server.settings.effective_issuer()
    assert body["scopes_supported"] == ["a.write", "b.read", "c"]
    assert body["code_challenge_methods_supported"] == ["S256"]  # `plain` is not advertised
    assert body["authorization_response_iss_parameter_supported"] is True
    assert set(body["grant_types_supported"]) == {
        "authorization_code",
        "refresh_token",
        "password",
        "client_credentials",
    }
    assert "client_secret_post" not in body["token_endpoint_auth_methods_supported"]


def test_metadata_lists_only_the_accepted_client_authentication(tmp_path):
    with run_server(tmp_path, {"client_auth.location": "body"}) as server:
        body = httpx.get(f"{server.url}/.well-known/oauth-authorization-server").json()
    assert "client_secret_basic" not in body["token_endpoint_auth_methods_supported"]
    assert "client_secret_post" in body["token_endpoint_auth_methods_supported"]


def test_rfc7662_s2_1_the_caller_must_be_a_client_allowed_to_introspect(server):
    resource, secret = server.create_client(
        "rs", grant_types=["client_credentials"], can_introspect=True
    )
    other, other_secret = server.create_client("app", grant_types=["client_credentials"])
    token = httpx.post(
        f"{server.url}/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(other.client_id, other_secret),
    ).json()["access_token"]

    anonymous = introspect(server, token)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"] == "invalid_client"
    wrong = introspect(server, token, auth=(resource.client_id, "wrong"))
    assert wrong.status_code == 401
    assert wrong.headers["www-authenticate"].startswith("Basic realm=")
    not_allowed = introspect(server, token, auth=(other.client_id, other_secret))
    assert not_allowed.status_code == 401
    assert not_allowed.json()["error"] == "invalid_client"
    assert "active" not in not_allowed.text

    allowed = introspect(server, token, auth=(resource.client_id, secret))
    assert allowed.json()["active"] is True
    unknown = introspect(server, "x" * 54, auth=(resource.client_id, secret))
    assert unknown.json() == {"active": False}


def test_an_active_refresh_token_is_introspected_as_refresh_token(server):
    resource, secret = server.create_client(
        "rs", grant_types=["client_credentials"], can_introspect=True
    )
    app, app_secret = server.create_client(
        "app", grant_types=["password", "refresh_token"], scopes=["a"]
    )
    server.create_user("alice", "correct horse")
    tokens = httpx.post(
        f"{server.url}/oauth2/token",
        data={"grant_type": "password", "username": "alice", "password": "correct horse"},
        auth=(app.client_id, app_secret),
    ).json()
    body = introspect(server, tokens["refresh_token"], auth=(resource.client_id, secret)).json()
    assert body["active"] is True
    assert body["token_type"] == "refresh_token"
    assert body["client_id"] == app.client_id
    assert body["username"] == "alice"


@pytest.mark.parametrize("path", ["/oauth2/token", "/oauth2/introspect", "/oauth2/revoke"])
def test_errors_of_every_endpoint_carry_no_store_and_pragma(server, path):
    answer = httpx.post(
        f"{server.url}{path}", content=b"{}", headers={"content-type": "application/json"}
    )
    assert answer.status_code in (400, 401)
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["pragma"] == "no-cache"
    assert "www-authenticate" not in answer.headers


def test_a_token_store_that_is_down_answers_503_and_never_a_verdict(tmp_path):
    down = f"postgresql://postgres@127.0.0.1:{free_port()}/test"
    with run_server(tmp_path, {"storage.tokens": down}) as server:
        client, secret = server.create_client(
            "svc", grant_types=["client_credentials"], can_introspect=True
        )
        assert secret is not None
        auth = (client.client_id, secret)
        answers = [
            httpx.post(
                f"{server.url}/oauth2/token", data={"grant_type": "client_credentials"}, auth=auth
            ),
            introspect(server, "x" * 54, auth=auth),
            httpx.post(f"{server.url}/oauth2/revoke", data={"token": "x" * 54}, auth=auth),
            httpx.get(f"{server.url}/readyz"),
        ]
    for answer in answers:
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"] == "temporarily_unavailable"


def test_password_stdin_drops_the_trailing_newline(server, tmp_path):
    ok(authgate(tmp_path, "user", "create", "alice", "--password-stdin", stdin="pw one\n"))
    app, secret = server.create_client("app", grant_types=["password"], scopes=["a"])

    def grant(password: str) -> httpx.Response:
        return httpx.post(
            f"{server.url}/oauth2/token",
            data={"grant_type": "password", "username": "alice", "password": password},
            auth=(app.client_id, secret),
        )

    assert grant("pw one\n").json()["error"] == "invalid_grant"
    assert grant("pw one").status_code == 200
