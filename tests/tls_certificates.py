"""Throwaway certificates for the TLS tests: a CA, server and client certificates it signs, and
self-signed client certificates, all made with `cryptography` and written as PEM files."""

from __future__ import annotations

import datetime
import hashlib
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

_ONE_DAY = datetime.timedelta(days=1)


@dataclass(frozen=True)
class Issued:
    """A certificate and its key, as PEM files."""

    certificate: Path
    private_key: Path
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def pem(self) -> str:
        return self.certificate.read_text()

    @property
    def thumbprint(self) -> str:
        """RFC 8705 `x5t#S256`: base64url SHA-256 of the DER certificate, unpadded."""
        import base64

        der = self.cert.public_bytes(serialization.Encoding.DER)
        return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()

    @property
    def pair(self) -> tuple[str, str]:
        """What httpx takes as a client certificate: (certificate file, key file)."""
        return str(self.certificate), str(self.private_key)


def _name(subject: str) -> x509.Name:
    return x509.Name.from_rfc4514_string(subject)


def _write(
    directory: Path, stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> Issued:
    directory.mkdir(parents=True, exist_ok=True)
    cert_path = directory / f"{stem}.crt"
    key_path = directory / f"{stem}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Issued(cert_path, key_path, cert, key)


def _builder(
    subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _ONE_DAY)
        .not_valid_after(now + 30 * _ONE_DAY)
    )


class CertificateAuthority:
    """A CA of its own, written under `directory` as `<stem>.crt` / `<stem>.key`."""

    def __init__(self, directory: Path, name: str = "CN=Test CA,O=authgate tests") -> None:
        self.directory = directory
        key = ec.generate_private_key(ec.SECP256R1())
        subject = _name(name)
        cert = (
            _builder(subject, subject, key)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(key, hashes.SHA256())
        )
        slug = name.split(",")[0].split("=")[1].replace(" ", "_").lower()
        self.issued = _write(directory, slug, cert, key)

    @property
    def certificate(self) -> Path:
        return self.issued.certificate

    def server(self, stem: str = "server", host: str = "127.0.0.1") -> Issued:
        """A server certificate for `host` (an IP address)."""
        import ipaddress

        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            _builder(_name(f"CN={host}"), self.issued.cert.subject, key)
            .add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]),
                critical=False,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(self.issued.key, hashes.SHA256())
        )
        return _write(self.directory, stem, cert, key)

    def client(self, subject: str, stem: str = "client") -> Issued:
        """A client certificate with the RFC 4514 `subject`, signed by this CA."""
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            _builder(_name(subject), self.issued.cert.subject, key)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(self.issued.key, hashes.SHA256())
        )
        return _write(self.directory, stem, cert, key)


def self_signed(directory: Path, subject: str, stem: str = "self_signed") -> Issued:
    """A self-signed client certificate (RFC 8705 section 2.2)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(subject)
    # Key identifiers, as `openssl req -x509` writes them: they tell apart two registered
    # certificates with one subject when the handshake looks for the trusted one.
    identifier = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        _builder(name, name, key)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(identifier, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(identifier),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    return _write(directory, stem, cert, key)


def client_context(ca: Path, certificate: Issued | None = None) -> ssl.SSLContext:
    """What an HTTPS client verifies the server with (`ca`) and, optionally, presents."""
    context = ssl.create_default_context(cafile=str(ca))
    if certificate is not None:
        context.load_cert_chain(*certificate.pair)
    return context
