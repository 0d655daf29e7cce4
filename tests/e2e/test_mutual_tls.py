"""RFC 8705 client authentication over real mutual TLS (SPEC.md, TLS and mutual TLS)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from authgate.certificates import normalize_dn
from tests.e2e.conftest import Pki
from tests.e2e.server import RunningServer, run_server
from tests.e2e.test_cli import authgate, created_client, ok
from tests.tls_certificates import Issued, client_context, self_signed

DN = "CN=billing,OU=services,O=Acme"


@pytest.fixture(scope="module")
def mtls(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[RunningServer]:
    certificate, key = pki.ca.server().pair
    config = {
        "server.tls_certificate": certificate,
        "server.tls_private_key": key,
        "server.tls_client_ca": str(pki.ca.certificate),
    }
    with run_server(tmp_path_factory.mktemp("mtls"), config) as server:
        yield server


def token_request(
    server: RunningServer,
    pki: Pki,
    certificate: Issued | None,
    data: dict[str, str],
    **options: Any,
) -> httpx.Response:
    with httpx.Client(verify=client_context(pki.ca.certificate, certificate)) as client:
        return client.post(f"{server.url}/oauth2/token", data=data, **options)


def client_credentials(client_id: str) -> dict[str, str]:
    return {"grant_type": "client_credentials", "client_id": client_id}


def tls_client(server: RunningServer, **registration: Any) -> str:
    client, secret = server.create_client("tls", grant_types=["client_credentials"], **registration)
    assert secret is None  # a client that authenticates with a certificate has no secret
    return client.client_id


def refused(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_client"


def test_metadata_lists_the_certificate_methods_and_bound_tokens(mtls, pki):
    with httpx.Client(verify=client_context(pki.ca.certificate)) as client:
        metadata = client.get(f"{mtls.url}/.well-known/oauth-authorization-server").json()
    methods = metadata["token_endpoint_auth_methods_supported"]
    assert {"tls_client_auth", "self_signed_tls_client_auth"} <= set(methods)
    assert metadata["tls_client_certificate_bound_access_tokens"] is True


def test_metadata_without_a_client_ca_lists_no_certificate_method(server):
    metadata = server.metadata()
    assert "tls_client_auth" not in metadata["token_endpoint_auth_methods_supported"]
    assert "tls_client_certificate_bound_access_tokens" not in metadata


def test_tls_client_auth_with_the_registered_subject(mtls, pki):
    client_id = tls_client(mtls, auth_method="tls_client_auth", tls_subject_dn=normalize_dn(DN))
    certificate = pki.ca.client(DN, "billing")
    response = token_request(mtls, pki, certificate, client_credentials(client_id))
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "Bearer"


def test_the_subject_is_compared_after_normalising_spacing_and_attribute_case(mtls, pki):
    registered = "cn=billing ,  ou=services,o=Acme"
    client_id = tls_client(
        mtls, auth_method="tls_client_auth", tls_subject_dn=normalize_dn(registered)
    )
    certificate = pki.ca.client(DN, "billing_spacing")
    response = token_request(mtls, pki, certificate, client_credentials(client_id))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "subject",
    ["CN=billing,OU=services,O=Acme Corp", "CN=Billing,OU=services,O=Acme", "CN=billing,O=Acme"],
)
def test_a_subject_differing_in_one_attribute_is_invalid_client(mtls, pki, subject):
    client_id = tls_client(mtls, auth_method="tls_client_auth", tls_subject_dn=normalize_dn(DN))
    certificate = pki.ca.client(subject, "near_miss")
    refused(token_request(mtls, pki, certificate, client_credentials(client_id)))


def test_no_certificate_is_invalid_client(mtls, pki):
    client_id = tls_client(mtls, auth_method="tls_client_auth", tls_subject_dn=normalize_dn(DN))
    refused(token_request(mtls, pki, None, client_credentials(client_id)))


def test_a_secret_instead_of_a_certificate_is_invalid_client(mtls, pki):
    client_id = tls_client(mtls, auth_method="tls_client_auth", tls_subject_dn=normalize_dn(DN))
    certificate = pki.ca.client(DN, "billing_secret")
    data = client_credentials(client_id) | {"client_secret": "guess"}
    refused(token_request(mtls, pki, certificate, data))
    response = token_request(
        mtls, pki, None, {"grant_type": "client_credentials"}, auth=(client_id, "guess")
    )
    refused(response)
    assert response.headers["www-authenticate"].startswith("Basic")


def test_a_certificate_from_another_ca_never_authenticates(mtls, pki):
    client_id = tls_client(mtls, auth_method="tls_client_auth", tls_subject_dn=normalize_dn(DN))
    certificate = pki.other_ca.client(DN, "impostor")
    try:
        response = token_request(mtls, pki, certificate, client_credentials(client_id))
    except httpx.TransportError:
        return  # refused in the handshake: it chains to no trusted CA
    refused(response)


def wait_until_trusted(server: RunningServer, pki: Pki, certificate: Issued, client_id: str):
    """A newly registered self-signed certificate is trusted in the handshake within 5 s."""
    deadline = time.monotonic() + 10
    while True:
        try:
            return token_request(server, pki, certificate, client_credentials(client_id))
        except httpx.TransportError:
            assert time.monotonic() < deadline, "the registered certificate was never trusted"
            time.sleep(0.25)


def test_self_signed_tls_client_auth_with_the_registered_certificate(mtls, pki):
    certificate = self_signed(pki.directory, "CN=device 7", "device7")
    client_id = tls_client(
        mtls, auth_method="self_signed_tls_client_auth", tls_certificate=certificate.pem
    )
    response = wait_until_trusted(mtls, pki, certificate, client_id)
    assert response.status_code == 200, response.text


def test_another_registered_certificate_is_invalid_client(mtls, pki):
    mine = self_signed(pki.directory, "CN=device 8", "device8")
    theirs = self_signed(pki.directory, "CN=device 8", "device8_other")
    client_id = tls_client(
        mtls, auth_method="self_signed_tls_client_auth", tls_certificate=mine.pem
    )
    other_id = tls_client(
        mtls, auth_method="self_signed_tls_client_auth", tls_certificate=theirs.pem
    )
    assert wait_until_trusted(mtls, pki, theirs, other_id).status_code == 200
    # Trusted in the handshake (registered), but not the certificate of this client.
    refused(token_request(mtls, pki, theirs, client_credentials(client_id)))
    # A CA-signed certificate is not the registered one either.
    refused(
        token_request(
            mtls, pki, pki.ca.client("CN=device 8", "device8_ca"), client_credentials(client_id)
        )
    )


def test_a_registered_self_signed_certificate_does_not_count_as_from_the_ca(mtls, pki):
    """Registered self-signed certificates are trusted in the handshake; a tls_client_auth
    client still needs the subject in a certificate from tls_client_ca."""
    forged = self_signed(pki.directory, DN, "forged")
    holder = tls_client(mtls, auth_method="self_signed_tls_client_auth", tls_certificate=forged.pem)
    assert wait_until_trusted(mtls, pki, forged, holder).status_code == 200
    victim = tls_client(mtls, auth_method="tls_client_auth", tls_subject_dn=normalize_dn(DN))
    refused(token_request(mtls, pki, forged, client_credentials(victim)))


def test_a_secret_client_over_mutual_tls_still_uses_its_secret(mtls, pki):
    client, secret = mtls.create_client("plain", grant_types=["client_credentials"])
    assert secret is not None
    certificate = pki.ca.client(DN, "plain")
    data = {"grant_type": "client_credentials"}
    ok_response = token_request(mtls, pki, certificate, data, auth=(client.client_id, secret))
    assert ok_response.status_code == 200
    refused(token_request(mtls, pki, certificate, client_credentials(client.client_id)))


def test_client_create_with_certificate_methods(tmp_path, pki):
    created = created_client(
        tmp_path,
        *("--grant-type", "client_credentials", "--auth-method", "tls_client_auth"),
        *("--tls-subject-dn", "cn=svc,  O=Acme"),
    )
    assert created.get("client_secret") is None
    assert created["auth_method"] == "tls_client_auth"
    assert created["tls_subject_dn"] == "CN=svc,O=Acme"
    certificate = self_signed(tmp_path, "CN=dev", "dev")
    created = json.loads(
        ok(
            authgate(
                tmp_path,
                "client",
                "create",
                "--name",
                "dev",
                "--grant-type",
                "client_credentials",
                "--auth-method",
                "self_signed_tls_client_auth",
                "--tls-certificate",
                str(certificate.certificate),
                "--json",
            )
        )
    )
    assert created.get("client_secret") is None
    assert created["tls_certificate"] == certificate.pem


@pytest.mark.parametrize(
    "options",
    [
        ["--auth-method", "tls_client_auth"],
        ["--auth-method", "tls_client_auth", "--tls-subject-dn", "not a dn"],
        ["--auth-method", "self_signed_tls_client_auth"],
        ["--auth-method", "self_signed_tls_client_auth", "--tls-certificate", "missing.pem"],
        ["--auth-method", "self_signed_tls_client_auth", "--tls-certificate", "c.toml"],
        ["--tls-subject-dn", "CN=x"],
        ["--auth-method", "tls_client_auth", "--tls-subject-dn", "CN=x", "--public"],
    ],
)
def test_client_create_refuses_inconsistent_certificate_options(tmp_path, options):
    (tmp_path / "c.toml").write_text("")
    result = authgate(tmp_path, "client", "create", "--name", "x", *options)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0, result.stderr


def test_the_administration_api_registers_certificate_clients(tmp_path, pki):
    from tests.e2e.test_admin_api import Admin, assert_problem

    with run_server(tmp_path) as server:
        admin = Admin(server)
        created = admin.post(
            "/clients",
            json={
                "name": "svc",
                "grant_types": ["client_credentials"],
                "auth_method": "tls_client_auth",
                "tls_subject_dn": "cn=svc,  O=Acme",
            },
        )
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["client_secret"] is None
        assert (body["auth_method"], body["tls_subject_dn"]) == ("tls_client_auth", "CN=svc,O=Acme")
        client_id = body["client_id"]
        assert admin.get(f"/clients/{client_id}").json()["tls_subject_dn"] == "CN=svc,O=Acme"
        rotated = admin.post(f"/clients/{client_id}/secret", json={})
        assert_problem(rotated, 409, "certificate")
        refused = admin.post(
            "/clients",
            json={
                "name": "x",
                "grant_types": ["client_credentials"],
                "auth_method": "tls_client_auth",
            },
        )
        assert_problem(refused, 422, "tls_subject_dn")
        admin.http.close()
