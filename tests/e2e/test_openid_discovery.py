"""OpenID Connect Discovery, the JWKS and the `authgate keys` commands, over real HTTP and
real processes (OpenID Connect Discovery 1.0, RFC 7517, RFC 8414)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import RunningServer, run_server
from tests.e2e.test_cli import authgate, ok


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    with run_server(tmp_path) as running:
        yield running


def cli(tmp_path: Path, *args: str) -> str:
    env = {"AUTHGATE_STORAGE__URL": f"sqlite:///{tmp_path}/authgate.db"}
    return ok(authgate(tmp_path, *args, env=env))


def test_openid_configuration_lists_the_provider(server):
    server.create_client("app", scopes=["photos.read"])
    answer = httpx.get(f"{server.url}/.well-known/openid-configuration")
    assert answer.status_code == 200
    body = answer.json()
    issuer = server.settings.effective_issuer()
    assert body["issuer"] == issuer
    assert body["authorization_endpoint"] == f"{issuer}/oauth2/authorize"
    assert body["token_endpoint"] == f"{issuer}/oauth2/token"
    assert body["jwks_uri"] == f"{issuer}/oauth2/jwks"
    assert body["userinfo_endpoint"] == f"{issuer}/oauth2/userinfo"
    assert body["end_session_endpoint"] == f"{issuer}/oauth2/logout"
    assert body["id_token_signing_alg_values_supported"] == ["RS256"]
    assert body["subject_types_supported"] == ["public"]
    assert body["response_types_supported"] == ["code"]
    assert {"openid", "photos.read"} <= set(body["scopes_supported"])
    assert {"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "azp"} <= set(
        body["claims_supported"]
    )
    assert body["code_challenge_methods_supported"] == ["S256"]


def test_the_rfc8414_document_gains_jwks_and_userinfo(server):
    body = server.metadata()
    issuer = server.settings.effective_issuer()
    assert body["jwks_uri"] == f"{issuer}/oauth2/jwks"
    assert body["userinfo_endpoint"] == f"{issuer}/oauth2/userinfo"


def test_es256_is_advertised_when_configured(tmp_path):
    with run_server(tmp_path, {"oidc.signing_alg": "ES256"}) as server:
        body = httpx.get(f"{server.url}/.well-known/openid-configuration").json()
        assert body["id_token_signing_alg_values_supported"] == ["ES256"]
        [key] = httpx.get(f"{server.url}/oauth2/jwks").json()["keys"]
    assert key["kty"] == "EC" and key["alg"] == "ES256"


def test_jwks_has_public_keys_with_kid_use_alg(server):
    answer = httpx.get(f"{server.url}/oauth2/jwks")
    assert answer.status_code == 200
    [key] = answer.json()["keys"]
    assert key["use"] == "sig" and key["alg"] == "RS256" and key["kid"]
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)


def test_keys_rotate_in_the_cli_is_current_in_the_server_at_once(server, tmp_path):
    [first] = httpx.get(f"{server.url}/oauth2/jwks").json()["keys"]
    rotated = json.loads(cli(tmp_path, "keys", "rotate", "--json"))
    assert rotated["current"] is True and rotated["kid"] != first["kid"]
    kids = [key["kid"] for key in httpx.get(f"{server.url}/oauth2/jwks").json()["keys"]]
    assert kids == [rotated["kid"], first["kid"]]  # the old key stays for key_retention
    listed = json.loads(cli(tmp_path, "keys", "list", "--json"))
    assert [(k["kid"], k["current"], k["published"]) for k in listed] == [
        (rotated["kid"], True, True),
        (first["kid"], False, True),
    ]
    assert all("d" not in key and "private_key" not in key for key in listed)


def test_keys_list_prints_one_line_per_key(tmp_path):
    cli(tmp_path, "keys", "rotate")
    lines = cli(tmp_path, "keys", "list").splitlines()
    assert len(lines) == 1 and lines[0].endswith("current")
    assert (tmp_path / "authgate.key").stat().st_mode & 0o777 == 0o600
