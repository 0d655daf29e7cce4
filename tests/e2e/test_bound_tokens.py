"""RFC 8705 section 3: certificate-bound access tokens, at introspection and the gateway,
and a public client's bound refresh tokens; over real mutual TLS."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from authgate.certificates import normalize_dn
from tests.e2e.conftest import Pki
from tests.e2e.server import RunningServer, run_server
from tests.e2e.upstream import Upstream, routes
from tests.tls_certificates import Issued, client_context

DN = "CN=reporting,O=Acme"


@pytest.fixture(scope="module")
def bound(
    tmp_path_factory: pytest.TempPathFactory, pki: Pki, upstream: Upstream
) -> Iterator[RunningServer]:
    certificate, key = pki.ca.server("bound_server").pair
    config = {
        "server.tls_certificate": certificate,
        "server.tls_private_key": key,
        "server.tls_client_ca": str(pki.ca.certificate),
        "gateway.routes": routes(upstream.url),
    }
    with run_server(tmp_path_factory.mktemp("bound"), config) as server:
        yield server


def call(
    server: RunningServer, pki: Pki, certificate: Issued | None, method: str, path: str, **kw: Any
) -> httpx.Response:
    with httpx.Client(verify=client_context(pki.ca.certificate, certificate)) as client:
        return client.request(method, f"{server.url}{path}", **kw)


def introspect(server: RunningServer, pki: Pki, token: str) -> dict[str, Any]:
    client, secret = server.create_client(
        "rs", grant_types=["client_credentials"], can_introspect=True
    )
    response = call(
        server,
        pki,
        None,
        "POST",
        "/oauth2/introspect",
        data={"token": token},
        auth=(client.client_id, secret or ""),
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def certificate_token(server: RunningServer, pki: Pki, certificate: Issued) -> str:
    client, _ = server.create_client(
        "reporting",
        grant_types=["client_credentials"],
        scopes=["photos.read"],
        auth_method="tls_client_auth",
        tls_subject_dn=normalize_dn(DN),
    )
    response = call(
        server,
        pki,
        certificate,
        "POST",
        "/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client.client_id,
            "scope": "photos.read",
        },
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def test_a_token_issued_over_mutual_tls_carries_the_thumbprint(bound, pki):
    certificate = pki.ca.client(DN, "reporting")
    token = certificate_token(bound, pki, certificate)
    assert introspect(bound, pki, token)["cnf"] == {"x5t#S256": certificate.thumbprint}


def test_a_token_issued_without_a_certificate_is_not_bound(bound, pki):
    client, secret = bound.create_client("plain", grant_types=["client_credentials"])
    response = call(
        bound,
        pki,
        None,
        "POST",
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(client.client_id, secret or ""),
    )
    assert "cnf" not in introspect(bound, pki, response.json()["access_token"])


def test_a_secret_client_presenting_a_certificate_gets_a_bound_token(bound, pki):
    certificate = pki.ca.client("CN=anyone", "anyone")
    client, secret = bound.create_client("plain", grant_types=["client_credentials"])
    response = call(
        bound,
        pki,
        certificate,
        "POST",
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(client.client_id, secret or ""),
    )
    token = response.json()["access_token"]
    assert introspect(bound, pki, token)["cnf"] == {"x5t#S256": certificate.thumbprint}


def test_the_gateway_forwards_a_bound_token_only_with_its_certificate(bound, pki, upstream):
    certificate = pki.ca.client(DN, "reporting_gw")
    token = certificate_token(bound, pki, certificate)
    headers = {"Authorization": f"Bearer {token}"}
    before = len(upstream.calls)
    assert call(bound, pki, certificate, "GET", "/api/photos/1", headers=headers).status_code == 200
    assert len(upstream.calls) == before + 1
    # The same token replayed from another certificate (same CA, same subject) or from none.
    replayed_from = pki.ca.client(DN, "reporting_thief")
    for presented in (replayed_from, None):
        response = call(bound, pki, presented, "GET", "/api/photos/1", headers=headers)
        assert response.status_code == 401, response.text
        assert response.json()["error"] == "invalid_token"
        assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert len(upstream.calls) == before + 1  # nothing more reached the upstream


def test_an_unbound_token_passes_the_gateway_with_or_without_a_certificate(bound, pki):
    client, secret = bound.create_client(
        "plain", grant_types=["client_credentials"], scopes=["photos.read"]
    )
    response = call(
        bound,
        pki,
        None,
        "POST",
        "/oauth2/token",
        data={"grant_type": "client_credentials", "scope": "photos.read"},
        auth=(client.client_id, secret or ""),
    )
    headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
    for presented in (None, pki.ca.client("CN=x", "x")):
        assert (
            call(bound, pki, presented, "GET", "/api/photos/2", headers=headers).status_code == 200
        )


def password_grant(bound: RunningServer, pki: Pki, certificate: Issued | None, *, public: bool):
    bound.create_user("carol", "a long enough password")
    client, secret = bound.create_client(
        "mobile", grant_types=["password", "refresh_token"], is_public=public
    )
    auth = None if public else (client.client_id, secret or "")
    data = {"grant_type": "password", "username": "carol", "password": "a long enough password"}
    if public:
        data["client_id"] = client.client_id
    response = call(bound, pki, certificate, "POST", "/oauth2/token", data=data, auth=auth)
    assert response.status_code == 200, response.text
    return client, auth, response.json()


def refresh(bound, pki, certificate, client, auth, token: str) -> httpx.Response:
    data = {"grant_type": "refresh_token", "refresh_token": token}
    if auth is None:
        data["client_id"] = client.client_id
    return call(bound, pki, certificate, "POST", "/oauth2/token", data=data, auth=auth)


def test_a_public_clients_refresh_token_is_bound_to_its_certificate(tmp_path, pki):
    certificate, key = pki.ca.server("public_server").pair
    config = {
        "server.tls_certificate": certificate,
        "server.tls_private_key": key,
        "server.tls_client_ca": str(pki.ca.certificate),
    }
    with run_server(tmp_path, config) as server:
        device = pki.ca.client("CN=phone", "phone")
        client, auth, tokens = password_grant(server, pki, device, public=True)
        refresh_token = tokens["refresh_token"]
        assert introspect(server, pki, refresh_token)["cnf"] == {"x5t#S256": device.thumbprint}
        for presented in (pki.ca.client("CN=phone", "other_phone"), None):
            response = refresh(server, pki, presented, client, auth, refresh_token)
            assert response.status_code == 400, response.text
            assert response.json()["error"] == "invalid_grant"
        # Refused before reuse detection: the rightful holder still refreshes.
        response = refresh(server, pki, device, client, auth, refresh_token)
        assert response.status_code == 200, response.text
        rotated = response.json()
        assert introspect(server, pki, rotated["refresh_token"])["cnf"] == {
            "x5t#S256": device.thumbprint
        }
        assert introspect(server, pki, rotated["access_token"])["cnf"] == {
            "x5t#S256": device.thumbprint
        }


def test_a_confidential_clients_refresh_token_is_not_bound(tmp_path, pki):
    certificate, key = pki.ca.server("confidential_server").pair
    config = {
        "server.tls_certificate": certificate,
        "server.tls_private_key": key,
        "server.tls_client_ca": str(pki.ca.certificate),
    }
    with run_server(tmp_path, config) as server:
        device = pki.ca.client("CN=backend", "backend")
        client, auth, tokens = password_grant(server, pki, device, public=False)
        assert "cnf" not in introspect(server, pki, tokens["refresh_token"])
        response = refresh(server, pki, None, client, auth, tokens["refresh_token"])
        assert response.status_code == 200, response.text
        assert "cnf" not in introspect(server, pki, response.json()["access_token"])


def clients_counted(server: RunningServer, pki: Pki) -> dict[str, float]:
    """authgate_service_requests_total by service and client label, from /metrics."""
    server.run(server._app.state.monitor.settle())
    text = call(server, pki, None, "GET", "/metrics").text
    counted: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "authgate_service_requests_total":
                key = f"{sample.labels['service']} {sample.labels['client']}"
                counted[key] = counted.get(key, 0) + sample.value
    return counted


def test_a_certificate_client_is_counted_under_its_subject_dn(bound, pki):
    subject = "CN=auditor,OU=finance,O=Acme"
    client, _ = bound.create_client(
        "auditor",
        grant_types=["client_credentials"],
        scopes=["photos.read"],
        auth_method="tls_client_auth",
        tls_subject_dn=normalize_dn(subject),
    )
    certificate = pki.ca.client(subject, "auditor")
    data = {
        "grant_type": "client_credentials",
        "client_id": client.client_id,
        "scope": "photos.read",
    }
    token = call(bound, pki, certificate, "POST", "/oauth2/token", data=data).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert call(bound, pki, certificate, "GET", "/api/photos/9", headers=headers).is_success
    counted = clients_counted(bound, pki)
    assert counted.get(f"photos {subject}") == 1
    assert any(k.startswith("oauth2.token") and k.endswith(f" {subject}") for k in counted)
    assert not any(k.endswith(f" {client.client_id}") for k in counted)


def jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWS compact serialisation (the signature is the JWT tests' business)."""
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


def test_a_jwt_access_token_carries_cnf_and_is_bound_at_the_gateway(tmp_path, pki, upstream):
    certificate, key = pki.ca.server("jwt_server").pair
    config = {
        "server.tls_certificate": certificate,
        "server.tls_private_key": key,
        "server.tls_client_ca": str(pki.ca.certificate),
        "tokens.access_token_format": "jwt",
        "gateway.routes": routes(upstream.url),
    }
    with run_server(tmp_path, config) as server:
        presented = pki.ca.client(DN, "reporting_jwt")
        token = certificate_token(server, pki, presented)
        assert jwt_claims(token)["cnf"] == {"x5t#S256": presented.thumbprint}
        headers = {"Authorization": f"Bearer {token}"}
        assert call(server, pki, presented, "GET", "/api/photos/3", headers=headers).is_success
        thief = pki.ca.client(DN, "reporting_jwt_thief")
        refused = call(server, pki, thief, "GET", "/api/photos/3", headers=headers)
        assert refused.status_code == 401
        assert refused.json()["error"] == "invalid_token"
