"""RFC 9068 JWT access tokens over real HTTP: issued per flow, stored by their hash like any
token (introspection, revocation), verified by the gateway and UserInfo before the store; and
every forgery refused wherever a token is read (gateway, UserInfo, `id_token_hint`)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from authgate.models import TokenRecord
from authgate.tokens import digest, new_grant_id
from tests.e2e.oauth import Introspector, token_request
from tests.e2e.server import RunningServer, run_server
from tests.e2e.test_cli import authgate, ok
from tests.e2e.upstream import Upstream, bearer, routes, run_upstream

SCOPES = ["photos.read", "openid"]


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    with run_upstream() as running:
        yield running


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("jwt")


@pytest.fixture(scope="module")
def server(folder: Path, upstream: Upstream) -> Iterator[RunningServer]:
    config = {"tokens.access_token_format": "jwt", "gateway.routes": routes(upstream.url)}
    with run_server(folder, config) as running:
        yield running


@pytest.fixture(scope="module")
def app(server: RunningServer) -> tuple[str, str]:
    client, secret = server.create_client(
        "svc", grant_types=["client_credentials"], scopes=SCOPES, redirect_uris=["https://a/cb"]
    )
    return client.client_id, secret or ""


def access_token(server: RunningServer, app: tuple[str, str], scope: str = "") -> str:
    data = {"grant_type": "client_credentials"} | ({"scope": scope} if scope else {})
    answer = token_request(server, data, auth=app)
    assert answer.status_code == 200, answer.text
    value: str = answer.json()["access_token"]
    return value


def jwks(server: RunningServer) -> KeySet:
    return KeySet.import_key_set(httpx.get(f"{server.url}/oauth2/jwks").json())


def gateway(server: RunningServer, token: str) -> httpx.Response:
    return httpx.get(f"{server.url}/api/photos/1", headers=bearer(token))


def userinfo(server: RunningServer, token: str) -> httpx.Response:
    return httpx.get(f"{server.url}/oauth2/userinfo", headers=bearer(token))


def store(server: RunningServer, token: str, client_id: str) -> None:
    """A live record under the token's digest: only the signature check can refuse it now."""
    issued = int(time.time())
    record = TokenRecord(
        kind="access_token",
        client_id=client_id,
        grant_id=new_grant_id(),
        scopes=tuple(SCOPES),
        issued_at=issued,
        expires_at=issued + 3600,
        subject=client_id,
    )
    server.run(server.services.tokens.put([(digest(token), record)]))


def signed(server: RunningServer, header: dict[str, Any], claims: dict[str, Any]) -> str:
    """A token signed with the server's own current key."""
    value: str = server.run(server.services.oidc.ring.sign(header, claims))
    return value


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def claims_of(server: RunningServer, app: tuple[str, str]) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": server.settings.effective_issuer(),
        "sub": app[0],
        "aud": server.settings.effective_issuer(),
        "client_id": app[0],
        "iat": now,
        "exp": now + 600,
        "jti": "j",
        "scope": " ".join(SCOPES),
    }


# Issued and accepted


def test_client_credentials_gives_an_rfc9068_jwt(server, app):
    answer = token_request(server, {"grant_type": "client_credentials"}, auth=app)
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    token = jwt.decode(body["access_token"], jwks(server), algorithms=["RS256"])
    assert token.header["typ"] == "at+jwt" and token.header["kid"]
    issuer = server.settings.effective_issuer()
    claims = token.claims
    assert claims["iss"] == issuer and claims["aud"] == issuer
    assert claims["sub"] == app[0] and claims["client_id"] == app[0]
    assert claims["exp"] == claims["iat"] + 3600
    assert claims["scope"] == "photos.read openid" and len(claims["jti"]) >= 16


def test_the_gateway_and_userinfo_accept_a_live_jwt(server, app, upstream):
    token = access_token(server, app)
    answer = gateway(server, token)
    assert answer.status_code == 200, answer.text
    headers = dict(answer.json()["headers"])
    assert headers["x-authgate-subject"] == app[0] and "authorization" not in headers
    assert userinfo(server, token).json() == {"sub": app[0]}


def test_introspection_and_revocation_work_as_for_any_token(server, app):
    token = access_token(server, app)
    introspect = Introspector(server)
    body = introspect(token)
    assert body["active"] is True and body["client_id"] == app[0]
    assert body["scope"] == "photos.read openid"
    revoked = httpx.post(f"{server.url}/oauth2/revoke", data={"token": token}, auth=app)
    assert revoked.status_code == 200
    assert introspect(token) == {"active": False}
    assert gateway(server, token).status_code == 401  # a valid signature, but revoked
    assert userinfo(server, token).status_code == 401


def test_the_format_is_per_flow(tmp_path):
    config = {"flows.client_credentials.tokens.access_token_format": "jwt"}
    with run_server(tmp_path, config) as server:
        client, secret = server.create_client(
            "both", grant_types=["client_credentials", "password"], scopes=["a"]
        )
        server.create_user("alice", "correct horse battery staple")
        auth = (client.client_id, secret)
        machine = token_request(server, {"grant_type": "client_credentials"}, auth=auth)
        person = token_request(
            server,
            {
                "grant_type": "password",
                "username": "alice",
                "password": "correct horse battery staple",
            },
            auth=auth,
        )
    assert machine.json()["access_token"].count(".") == 2
    assert person.json()["access_token"].isalnum()


def test_token_create_follows_the_format(folder, server, app):
    env = {
        "AUTHGATE_STORAGE__URL": f"sqlite:///{folder}/authgate.db",
        "AUTHGATE_TOKENS__ACCESS_TOKEN_FORMAT": "jwt",
        "AUTHGATE_SERVER__PORT": str(server.settings.server.port),  # the same issuer
    }
    out = ok(authgate(folder, "token", "create", "--client", app[0], "--json", env=env))
    value = json.loads(out)["access_token"]
    assert jwt.decode(value, jwks(server), algorithms=["RS256"]).header["typ"] == "at+jwt"
    assert gateway(server, value).status_code == 200


def test_key_rotation_while_tokens_are_live(folder, server, app):
    before = access_token(server, app)
    env = {"AUTHGATE_STORAGE__URL": f"sqlite:///{folder}/authgate.db"}
    rotated = json.loads(ok(authgate(folder, "keys", "rotate", "--json", env=env)))
    after = access_token(server, app)
    assert jwt.decode(after, jwks(server), algorithms=["RS256"]).header["kid"] == rotated["kid"]
    for token in (before, after):
        assert gateway(server, token).status_code == 200
        assert userinfo(server, token).status_code == 200


# Refused wherever a token is read


def forgeries(server: RunningServer, app: tuple[str, str]) -> dict[str, str]:
    good = access_token(server, app)
    header, payload, signature = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["scope"] = "photos.read openid photos.write"
    now = int(time.time())
    at = {"typ": "at+jwt"}
    return {
        "tampered": f"{header}.{b64(claims)}.{signature}",
        "alg none": f"{b64({'alg': 'none', 'typ': 'at+jwt'})}.{payload}.",
        "expired": signed(server, at, claims_of(server, app) | {"iat": now - 99, "exp": now - 9}),
        "wrong audience": signed(server, at, claims_of(server, app) | {"aud": "https://x"}),
        "wrong issuer": signed(server, at, claims_of(server, app) | {"iss": "https://x"}),
        "an id token": signed(server, {"typ": "JWT"}, claims_of(server, app)),
    }


@pytest.mark.parametrize(
    "kind", ["tampered", "alg none", "expired", "wrong audience", "wrong issuer", "an id token"]
)
def test_forged_jwts_are_refused_before_the_store_rfc9068_4(server, app, upstream, kind):
    token = forgeries(server, app)[kind]
    store(server, token, app[0])  # the store alone would let it through
    calls = len(upstream.calls)
    for answer in (gateway(server, token), userinfo(server, token)):
        assert answer.status_code == 401, (kind, answer.text)
        assert answer.json()["error"] == "invalid_token"
        assert 'error="invalid_token"' in answer.headers["www-authenticate"]
    assert len(upstream.calls) == calls


def id_token_hints(server: RunningServer, client_id: str) -> dict[str, str]:
    now = int(time.time())
    issuer = server.settings.effective_issuer()
    claims = {"iss": issuer, "sub": "alice", "aud": client_id, "iat": now, "exp": now + 600}
    good = signed(server, {"typ": "JWT"}, claims)
    header, payload, signature = good.split(".")
    return {
        "valid": good,
        "tampered": f"{header}.{b64(claims | {'sub': 'mallory'})}.{signature}",
        "alg none": f"{b64({'alg': 'none'})}.{payload}.",
        "expired": signed(server, {}, claims | {"iat": now - 99, "exp": now - 9}),
        "wrong audience": signed(server, {}, claims | {"aud": "someone-else"}),
    }


@pytest.mark.parametrize("kind", ["tampered", "alg none", "expired", "wrong audience"])
def test_forged_id_token_hints_are_refused_and_never_redirect(server, app, kind):
    hints = id_token_hints(server, app[0])
    params = {"post_logout_redirect_uri": "https://a/cb", "state": "s"}
    valid = httpx.get(
        f"{server.url}/oauth2/logout", params=params | {"id_token_hint": hints["valid"]}
    )
    assert valid.status_code == 303 and valid.headers["location"] == "https://a/cb?state=s"
    answer = httpx.get(
        f"{server.url}/oauth2/logout", params=params | {"id_token_hint": hints[kind]}
    )
    assert answer.status_code == 400 and "location" not in answer.headers
