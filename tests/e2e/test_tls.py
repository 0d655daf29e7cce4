"""HTTPS in `serve` (SPEC.md, TLS and mutual TLS): a throwaway CA, real handshakes."""

from __future__ import annotations

import os
import socket
import ssl
import time
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from authgate.config import load_settings
from authgate.server_tls import RELOAD_SECONDS, ServerTls
from tests.e2e.server import run_server
from tests.e2e.test_cli import authgate
from tests.tls_certificates import CertificateAuthority, client_context

_DER = Encoding.DER


def tls_config(server_cert: tuple[str, str], **more: str) -> dict[str, str]:
    certificate, key = server_cert
    return {"server.tls_certificate": certificate, "server.tls_private_key": key, **more}


def env(config: dict[str, str]) -> dict[str, str]:
    return {"AUTHGATE_" + k.upper().replace(".", "__"): v for k, v in config.items()}


def served_certificate(url: str, ca: Path) -> bytes:
    """The DER certificate a new handshake with the server at `url` gets."""
    host, port = url.removeprefix("https://").split(":")
    context = ssl.create_default_context(cafile=str(ca))
    with socket.create_connection((host, int(port)), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname=host) as tls:
            der = tls.getpeercert(binary_form=True)
    assert der is not None
    return der


def test_serve_speaks_https_with_an_https_issuer_and_secure_cookies(tmp_path):
    ca = CertificateAuthority(tmp_path / "pki")
    with run_server(tmp_path, tls_config(ca.server().pair)) as server:
        assert server.url.startswith("https://")
        with httpx.Client(verify=client_context(ca.certificate)) as client:
            metadata = client.get(f"{server.url}/.well-known/oauth-authorization-server").json()
            assert metadata["issuer"] == server.url
            assert metadata["token_endpoint"] == f"{server.url}/oauth2/token"
            login = client.get(f"{server.url}/manager/login")
        cookies = login.headers.get_list("set-cookie")
        assert cookies and all("secure" in c.lower() for c in cookies)
        with pytest.raises(httpx.HTTPError):  # only HTTPS is spoken
            httpx.get(server.url.replace("https://", "http://") + "/healthz", timeout=5)
        with pytest.raises(httpx.ConnectError):  # a CA the client does not trust
            httpx.get(
                f"{server.url}/healthz",
                verify=client_context(CertificateAuthority(tmp_path / "o").certificate),
            )


def test_the_context_refuses_anything_older_than_tls_1_2(tmp_path):
    ca = CertificateAuthority(tmp_path / "pki")
    settings = load_settings(environ=env(tls_config(ca.server().pair)))
    context = ServerTls(settings.server).context
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.verify_mode == ssl.CERT_NONE  # no client certificate asked for without a CA


def test_a_renewed_certificate_is_served_within_ten_seconds_without_restart(tmp_path):
    ca = CertificateAuthority(tmp_path / "pki")
    first = ca.server("first")
    live_cert, live_key = tmp_path / "live.crt", tmp_path / "live.key"
    live_cert.write_bytes(first.certificate.read_bytes())
    live_key.write_bytes(first.private_key.read_bytes())
    with run_server(tmp_path, tls_config((str(live_cert), str(live_key)))) as server:
        before = served_certificate(server.url, ca.certificate)
        assert before == first.cert.public_bytes(_DER)
        renewed = ca.server("renewed")
        # As a renewal tool does: each file replaced at once by a rename.
        for source, live in ((renewed.private_key, live_key), (renewed.certificate, live_cert)):
            staged = live.with_suffix(".new")
            staged.write_bytes(source.read_bytes())
            os.replace(staged, live)
        deadline = time.monotonic() + 10
        while served_certificate(server.url, ca.certificate) == before:
            assert time.monotonic() < deadline, "the renewed certificate was not picked up"
            time.sleep(0.25)
        assert served_certificate(server.url, ca.certificate) == renewed.cert.public_bytes(_DER)
        with httpx.Client(verify=client_context(ca.certificate)) as client:  # and it still answers
            assert client.get(f"{server.url}/healthz").status_code == 200


@pytest.mark.parametrize("key", ["tls_certificate", "tls_private_key"])
def test_a_missing_certificate_or_key_stops_serve_with_one_line(tmp_path, key):
    ca = CertificateAuthority(tmp_path / "pki")
    certificate, private_key = ca.server().pair
    files = {"tls_certificate": certificate, "tls_private_key": private_key}
    files[key] = str(tmp_path / "missing.pem")
    config = "[server]\n" + "".join(f"{k} = '{v}'\n" for k, v in files.items())
    (tmp_path / "c.toml").write_text(config + "port = 0\n")
    result = authgate(tmp_path, "--config", "c.toml", "serve")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert f"server.{key}" in result.stderr


def test_a_key_that_is_not_a_key_names_the_key(tmp_path):
    ca = CertificateAuthority(tmp_path / "pki")
    certificate, _ = ca.server().pair
    config = f"tls_certificate = '{certificate}'\ntls_private_key = '{certificate}'\n"
    (tmp_path / "c.toml").write_text("[server]\nport = 0\n" + config)
    result = authgate(tmp_path, "--config", "c.toml", "serve")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "server.tls_private_key" in result.stderr


def replace_file(source: Path, live: Path) -> None:
    """As a renewal tool does: the file replaced at once, by a rename."""
    staged = live.with_suffix(".new")
    staged.write_bytes(source.read_bytes())
    os.replace(staged, live)


def test_a_mismatched_pair_keeps_the_previous_certificate_serving(tmp_path):
    """A renewal caught between its two files: the new certificate with the old key fails to
    load, and the server goes on with the pair it had until the key follows."""
    ca = CertificateAuthority(tmp_path / "pki")
    first, renewed = ca.server("first"), ca.server("renewed")
    live_cert, live_key = tmp_path / "live.crt", tmp_path / "live.key"
    replace_file(first.certificate, live_cert)
    replace_file(first.private_key, live_key)
    with run_server(tmp_path, tls_config((str(live_cert), str(live_key)))) as server:
        replace_file(renewed.certificate, live_cert)  # the key is still the old one
        time.sleep(RELOAD_SECONDS * 2)
        assert served_certificate(server.url, ca.certificate) == first.cert.public_bytes(_DER)
        replace_file(renewed.private_key, live_key)
        deadline = time.monotonic() + 10
        while served_certificate(server.url, ca.certificate) != renewed.cert.public_bytes(_DER):
            assert time.monotonic() < deadline, "the completed pair was not picked up"
            time.sleep(0.25)
