"""X.509 client certificates (RFC 8705): thumbprints, subject DNs and who issued them.

A request's certificate arrives as the ASGI TLS extension's PEM (from the handshake, or from a
trusted proxy's header); `PeerCertificate` parses it once and answers what client
authentication, token binding and monitoring ask of it.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import ssl
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypedDict

from authgate.models import AuthMethod

if TYPE_CHECKING:
    from cryptography import x509

CACHE_SIZE = 1024  # parsed certificates kept per process: a client presents the same one


def thumbprint(der: bytes) -> str:
    """RFC 8705 section 3.1 `x5t#S256`: the base64url SHA-256 of the DER certificate."""
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


def same_thumbprint(a: str | None, b: str | None) -> bool:
    """Constant-time; None matches nothing."""
    if a is None or b is None:
        return False
    return hmac.compare_digest(a.encode(), b.encode())


def normalize_dn(dn: str) -> str:
    """An RFC 4514 DN with spacing and attribute-name case normalised (RFC 8705 section 2.1
    leaves the comparison to the server); ValueError if it is not a DN."""
    with warnings.catch_warnings():
        # ldap3 2.9 imports names that pyasn1 >= 0.6 deprecates; nothing to act on here.
        warnings.simplefilter("ignore", DeprecationWarning)
        from ldap3.core.exceptions import LDAPInvalidDnError
        from ldap3.utils.dn import parse_dn
    try:
        parts = parse_dn(dn, escape=False, strip=True)
    except LDAPInvalidDnError as exc:
        raise ValueError(f"not an RFC 4514 distinguished name: {exc}") from None
    if not parts:
        raise ValueError("not an RFC 4514 distinguished name: empty")
    return "".join(f"{name.upper()}={value}{separator}" for name, value, separator in parts)


class PeerCertificate:
    """One client certificate, parsed once."""

    __slots__ = ("_subject_dn", "cert", "der", "thumbprint")

    def __init__(self, der: bytes) -> None:
        # Imported with the first certificate, not at start: cryptography costs each process
        # several MB, and a server without TLS clients never parses a certificate.
        from cryptography import x509

        self.der = der
        self.cert = x509.load_der_x509_certificate(der)
        self.thumbprint = thumbprint(der)
        self._subject_dn: str | None = None

    @property
    def subject_dn(self) -> str:
        """The subject as a normalised RFC 4514 string."""
        if self._subject_dn is None:
            self._subject_dn = normalize_dn(self.cert.subject.rfc4514_string())
        return self._subject_dn

    def issued_by_one_of(self, authorities: Sequence[x509.Certificate]) -> bool:
        """Whether one of `authorities` signed this certificate (RFC 8705 section 2.1: a DN
        counts only in a certificate from a CA the server trusts)."""
        from cryptography.exceptions import InvalidSignature  # loaded by __init__ already

        for authority in authorities:
            try:
                self.cert.verify_directly_issued_by(authority)
            except (ValueError, TypeError, InvalidSignature):
                continue
            return True
        return False


@functools.lru_cache(maxsize=CACHE_SIZE)
def _parsed(pem: str) -> PeerCertificate | None:
    try:
        return PeerCertificate(ssl.PEM_cert_to_DER_cert(pem))
    except ValueError:
        return None


def from_pem(pem: str) -> PeerCertificate | None:
    """The certificate of a PEM text, or None if it is not one."""
    return _parsed(pem.strip() + "\n")


def load_authorities(path: str) -> list[x509.Certificate]:
    """The certificates of a PEM bundle (`[server] tls_client_ca`)."""
    from cryptography import x509  # on first use, as in PeerCertificate

    with open(path, "rb") as file:
        return x509.load_pem_x509_certificates(file.read())


# The request attributes monitoring counts a client under (`[monitoring] client_attribute`).
SUBJECT_ATTRIBUTE = "authentication.subject.id"
CERTIFICATE_ATTRIBUTE = "authentication.certificate.subject"


def name_by_certificate(
    attributes: dict[str, Any], client_id: str, certificate: PeerCertificate
) -> None:
    """A client proven by its certificate is known by the certificate's subject DN (the seeds'
    client attribute: "the user name or user's X.509 Distinguished Name"): where the client
    is the subject (it acts on its own behalf), the subject attribute becomes the DN."""
    attributes[CERTIFICATE_ATTRIBUTE] = certificate.subject_dn
    if attributes.get(SUBJECT_ATTRIBUTE, client_id) == client_id:
        attributes[SUBJECT_ATTRIBUTE] = certificate.subject_dn


def peer_certificate(scope: Mapping[str, Any]) -> PeerCertificate | None:
    """The client certificate of a request: the first of the ASGI TLS extension's chain."""
    chain = scope.get("extensions", {}).get("tls", {}).get("client_cert_chain")
    return from_pem(chain[0]) if chain else None


class Registration(TypedDict, total=False):
    """The registry columns of a client's authentication method."""

    auth_method: AuthMethod
    tls_subject_dn: str
    tls_certificate: str


def registration(
    method: AuthMethod, *, subject_dn: str | None, certificate: str | None, public: bool
) -> Registration:
    """The registry columns of a client authenticating with `method` (`client create`'s
    rules); ValueError saying what is wrong."""
    if method == "secret":
        if subject_dn or certificate:
            raise ValueError(
                "tls_subject_dn (--tls-subject-dn) and tls_certificate (--tls-certificate) "
                "go with a certificate auth method"
            )
        return {"auth_method": method}
    if public:
        raise ValueError(f"a public client cannot use {method}: it has no credentials")
    if method == "tls_client_auth":
        if not subject_dn or certificate:
            raise ValueError(
                "tls_client_auth takes tls_subject_dn (--tls-subject-dn), no tls_certificate"
            )
        return {"auth_method": method, "tls_subject_dn": normalize_dn(subject_dn)}
    if method == "self_signed_tls_client_auth":
        if not certificate or subject_dn:
            raise ValueError(
                "self_signed_tls_client_auth takes tls_certificate (--tls-certificate), "
                "no tls_subject_dn"
            )
        if from_pem(certificate) is None:
            raise ValueError("tls_certificate is not a PEM certificate")
        return {"auth_method": method, "tls_certificate": certificate.strip() + "\n"}
    raise ValueError(f"unknown auth method {method!r}")
