"""Behind a TLS-terminating proxy (SPEC.md, TLS and mutual TLS): the client certificate in
`client_certificate_header`, believed from the peers of `forwarded_allow_ips` only, and never
forwarded upstream. authgate speaks plain HTTP here, as behind nginx; the proxy is played by
httpx from a chosen loopback address."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from authgate.certificates import normalize_dn
from tests.e2e.conftest import Pki
from tests.e2e.server import RunningServer, run_server
from tests.e2e.upstream import Upstream, routes

DN = "CN=ledger,O=Acme"
PROXY = "127.0.0.2"  # the trusted proxy's address; tests connect from 127.0.0.1 otherwise
HEADER = "X-Client-Cert"


@pytest.fixture(scope="module")
def proxied(
    tmp_path_factory: pytest.TempPathFactory, pki: Pki, upstream: Upstream
) -> Iterator[RunningServer]:
    config = {
        "server.tls_client_ca": str(pki.ca.certificate),
        "server.forwarded_allow_ips": f'["{PROXY}"]',
        "server.client_certificate_header": HEADER,
        "gateway.routes": routes(upstream.url),
    }
    with run_server(tmp_path_factory.mktemp("proxied"), config) as server:
        yield server


def request(peer: str, method: str, url: str, **options: Any) -> httpx.Response:
    with httpx.Client(transport=httpx.HTTPTransport(local_address=peer)) as client:
        return client.request(method, url, **options)


def escaped(pem: str) -> str:
    """The PEM as nginx's $ssl_client_escaped_cert sends it."""
    return quote(pem, safe="")


def ledger_client(server: RunningServer) -> str:
    client, _ = server.create_client(
        "ledger",
        grant_types=["client_credentials"],
        scopes=["photos.read"],
        auth_method="tls_client_auth",
        tls_subject_dn=normalize_dn(DN),
    )
    return client.client_id


def token_via(server: RunningServer, peer: str, client_id: str, pem: str | None) -> httpx.Response:
    headers = {HEADER: escaped(pem)} if pem else {}
    data = {"grant_type": "client_credentials", "client_id": client_id, "scope": "photos.read"}
    return request(peer, "POST", f"{server.url}/oauth2/token", data=data, headers=headers)


def test_the_certificate_header_from_an_allowed_proxy_authenticates(proxied, pki):
    certificate = pki.ca.client(DN, "ledger")
    response = token_via(proxied, PROXY, ledger_client(proxied), certificate.pem)
    assert response.status_code == 200, response.text


def test_the_certificate_header_from_any_other_peer_is_ignored(proxied, pki):
    certificate = pki.ca.client(DN, "ledger_direct")
    response = token_via(proxied, "127.0.0.1", ledger_client(proxied), certificate.pem)
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_client"


def test_an_allowed_proxy_without_the_header_means_no_certificate(proxied):
    response = token_via(proxied, PROXY, ledger_client(proxied), None)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_a_header_certificate_from_another_ca_is_invalid_client(proxied, pki):
    certificate = pki.other_ca.client(DN, "ledger_other_ca")
    response = token_via(proxied, PROXY, ledger_client(proxied), certificate.pem)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_a_bound_token_through_the_proxy_and_the_header_never_reaches_the_upstream(
    proxied, pki, upstream
):
    certificate = pki.ca.client(DN, "ledger_gw")
    response = token_via(proxied, PROXY, ledger_client(proxied), certificate.pem)
    token = response.json()["access_token"]
    url = f"{proxied.url}/api/photos/7"
    sent = {
        "Authorization": f"Bearer {token}",
        HEADER: escaped(certificate.pem),
        "X_Client_Cert": escaped(certificate.pem),  # the spelling WSGI upstreams read alike
    }
    before = len(upstream.calls)
    assert request(PROXY, "GET", url, headers=sent).status_code == 200
    forwarded = {name.lower() for name, _ in upstream.calls[-1]["headers"]}
    assert not {"x-client-cert", "x_client_cert"} & forwarded
    # From another peer the header is no certificate: the bound token is refused.
    refused = request("127.0.0.1", "GET", url, headers=sent)
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_token"
    assert len(upstream.calls) == before + 1


def test_forwarded_for_is_believed_from_an_allowed_proxy_only(proxied, pki, upstream):
    client, secret = proxied.create_client(
        "plain", grant_types=["client_credentials"], scopes=["photos.read"]
    )
    token = request(
        PROXY,
        "POST",
        f"{proxied.url}/oauth2/token",
        data={"grant_type": "client_credentials", "scope": "photos.read"},
        auth=(client.client_id, secret or ""),
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}", "X-Forwarded-For": "203.0.113.9"}

    def seen_for(peer: str) -> str:
        assert request(peer, "GET", f"{proxied.url}/api/photos/8", headers=headers).is_success
        found: dict[str, str] = dict((k.lower(), v) for k, v in upstream.calls[-1]["headers"])
        return found["x-forwarded-for"]

    assert seen_for(PROXY).split(",")[-1].strip() == "203.0.113.9"  # the proxy's client
    assert seen_for("127.0.0.1").split(",")[-1].strip() == "127.0.0.1"  # the peer itself
