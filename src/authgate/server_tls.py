"""HTTPS for `authgate serve`: the server's SSLContext, its renewal, and client certificates.

One `ServerTls` per process holds the context uvicorn listens with. Every `RELOAD_SECONDS`
it looks at `[server] tls_certificate` and `tls_private_key` (modification time, inode, size)
and, when either changed, loads the pair again into the same context: OpenSSL copies the
certificate into each connection when the handshake starts, so new connections get the
renewed one and open ones keep theirs. A pair caught half-written fails to load; the old one
stays until the next look.

With `tls_client_ca`, the server asks for a client certificate and accepts a connection without
one (RFC 8705 leaves the decision to the token endpoint). OpenSSL refuses a certificate that
chains to no trusted CA, so the certificates registered by `self_signed_tls_client_auth`
clients are added to the trust store too (`trust`); the token endpoint still checks which
client a certificate proves.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import weakref
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from authgate.config import ServerSettings
from authgate.errors import ConfigError, StoreUnavailable

if TYPE_CHECKING:
    from authgate.registry import Registry

log = logging.getLogger("authgate.tls")

RELOAD_SECONDS = 2.0  # how often the files are looked at: well within SPEC.md's 10 s
TRUST_SECONDS = 5.0  # how often the registered self-signed client certificates are read

# The contexts of this process (one under `serve`; a test process may run several servers).
# The app adds registered self-signed certificates to them (`trust_everywhere`).
_LIVE: weakref.WeakSet[ServerTls] = weakref.WeakSet()


def _no_password() -> bytes:
    raise ConfigError("server.tls_private_key: an encrypted key is not supported")


class ServerTls:
    """The listening SSLContext and the files it was loaded from."""

    def __init__(self, server: ServerSettings) -> None:
        self.certificate = server.tls_certificate
        self.private_key = server.tls_private_key
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)  # Python's defaults: modern ciphers
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if server.tls_client_ca:
            try:
                context.load_verify_locations(cafile=server.tls_client_ca)
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(f"server.tls_client_ca: cannot load {_reason(exc)}") from None
            context.verify_mode = ssl.CERT_OPTIONAL
        self.context = context
        self._loaded: tuple[tuple[int, int, int], ...] | None = None
        self._failed: tuple[tuple[int, int, int], ...] | None = None
        self._trusted: set[str] = set()
        self._timer: asyncio.TimerHandle | None = None
        self.load()
        _LIVE.add(self)

    def load(self) -> None:
        """Load the certificate and key into the context; ConfigError naming the bad key.

        The pair is tried on a scratch context first: a failed load_cert_chain can leave a
        context with the new certificate and no key, and the live one must keep working."""
        stamp = (
            _readable(self.certificate, "tls_certificate"),
            _readable(self.private_key, "tls_private_key"),
        )
        self._load_into(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))
        self._load_into(self.context)
        self._loaded = stamp

    def _load_into(self, context: ssl.SSLContext) -> None:
        try:
            context.load_cert_chain(self.certificate, self.private_key, _no_password)
        except (OSError, ssl.SSLError) as exc:
            key = "tls_private_key" if _is_certificate(self.certificate) else "tls_certificate"
            raise ConfigError(f"server.{key}: cannot load: {_reason(exc)}") from None

    def reload_if_changed(self) -> bool:
        """Load the pair again if either file changed since; False when nothing was done.
        A pair that fails is reported once and tried again when a file changes."""
        stamp: tuple[tuple[int, int, int], ...] = ()  # () while a file cannot be read
        try:
            stamp = (
                _readable(self.certificate, "tls_certificate"),
                _readable(self.private_key, "tls_private_key"),
            )
            if stamp in (self._loaded, self._failed):
                return False
            self.load()
        except ConfigError as exc:
            if stamp != self._failed:
                log.warning("TLS certificate not reloaded, the previous one stays: %s", exc)
            self._failed = stamp
            return False
        log.info("TLS certificate reloaded from %s", self.certificate)
        return True

    def watch(self, loop: asyncio.AbstractEventLoop) -> None:
        """Look at the files every RELOAD_SECONDS on `loop`, as long as it runs."""

        def tick() -> None:
            self.reload_if_changed()
            self._timer = loop.call_later(RELOAD_SECONDS, tick)

        self._timer = loop.call_later(RELOAD_SECONDS, tick)

    def trust(self, certificates: Iterable[str]) -> None:
        """Add PEM certificates to the client trust store (self-signed client certificates)."""
        if self.context.verify_mode == ssl.CERT_NONE:
            return
        for pem in certificates:
            if pem in self._trusted:
                continue
            try:
                self.context.load_verify_locations(cadata=pem)
            except ssl.SSLError as exc:
                log.warning("a registered client certificate cannot be trusted: %s", exc)
            self._trusted.add(pem)


def trust_everywhere(certificates: list[str]) -> None:
    for tls in list(_LIVE):
        tls.trust(certificates)


async def trust_registered_forever(registry: Registry) -> None:
    """Keep the registered self-signed client certificates trusted in the handshake: at
    start, then every TRUST_SECONDS (a newly registered one works within that time)."""
    while True:
        try:
            trust_everywhere(await registry.self_signed_certificates())
        except StoreUnavailable as exc:
            log.warning("self-signed client certificates not refreshed: %s", exc)
        await asyncio.sleep(TRUST_SECONDS)


def context_factory(
    server: ServerSettings, config: object, default: Callable[[], ssl.SSLContext]
) -> ssl.SSLContext:
    """uvicorn's `ssl_context_factory` (bound to the settings with functools.partial, so that
    worker processes receive it pickled): each process builds its own context, in its loop."""
    tls = ServerTls(server)
    try:
        tls.watch(asyncio.get_running_loop())
    except RuntimeError:  # not called from a running loop: no renewal
        log.warning("TLS certificate renewal is off: no event loop")
    return tls.context


# ASGI TLS extension: the protocol version as its two-byte code.
_TLS_VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


def tls_extension(ssl_object: ssl.SSLObject) -> dict[object, object]:
    """`scope["extensions"]["tls"]` of the ASGI TLS extension for one connection: the client
    certificate the handshake accepted, as PEM (an empty chain when it sent none)."""
    der = ssl_object.getpeercert(binary_form=True)
    return {
        "server_cert": None,
        "client_cert_chain": [ssl.DER_cert_to_PEM_cert(der)] if der else [],
        "client_cert_name": None,
        "client_cert_error": None,
        "tls_version": _TLS_VERSIONS.get(ssl_object.version() or ""),
        "cipher_suite": None,
    }


def _readable(path: str, key: str) -> tuple[int, int, int]:
    """What tells one version of the file from the next (modification time, inode, size),
    once it was opened for reading: ConfigError if it cannot be."""
    try:
        with open(path, "rb") as file:
            stat = os.fstat(file.fileno())
            return stat.st_mtime_ns, stat.st_ino, stat.st_size
    except OSError as exc:
        raise ConfigError(f"server.{key}: cannot read: {_reason(exc)}") from None


def _is_certificate(path: str) -> bool:
    # Imported here, not at start: cryptography costs each process several MB, and only a
    # server with TLS configured reads a certificate file.
    from cryptography import x509

    try:
        with open(path, "rb") as file:
            x509.load_pem_x509_certificates(file.read())
    except (OSError, ValueError):
        return False
    return True


def _reason(exc: OSError | ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLError):
        return exc.reason or str(exc)
    return f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc)
