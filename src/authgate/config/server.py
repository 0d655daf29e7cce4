"""`[server]`: where `serve` listens, its limits for slow clients, HTTPS and trusted proxies."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from authgate.config.peers import HeaderName, TrustedPeer
from authgate.config.sections import Section


class ServerSettings(Section):
    host: str = Field(default="127.0.0.1", description="address `serve` listens on; --host wins")
    port: Annotated[int, Field(ge=0, le=65535)] = Field(
        default=8080, description="TCP port `serve` listens on; --port wins"
    )
    workers: Annotated[int, Field(ge=1)] = Field(
        default=1, description="worker processes of `serve`; --workers wins"
    )
    header_timeout: Annotated[float, Field(gt=0)] = Field(
        default=10, description="seconds a request's headers may take to arrive; then closed"
    )
    body_timeout: Annotated[float, Field(gt=0)] = Field(
        default=30, description="seconds a request's body may take after its headers; then closed"
    )
    max_connections: Annotated[int, Field(ge=1)] = Field(
        default=1000, description="open connections per worker; past it, new ones get 503"
    )
    tls_certificate: str = Field(
        default="", description="PEM certificate chain; with tls_private_key, only HTTPS is spoken"
    )
    tls_private_key: str = Field(
        default="", description="PEM private key; a changed pair is picked up within 10 s"
    )
    tls_client_ca: str = Field(
        default="", description="PEM bundle: ask for (never require) client certificates it signed"
    )
    forwarded_allow_ips: list[TrustedPeer] = Field(
        default_factory=list,
        description="proxies whose X-Forwarded-For/-Proto and certificate header are trusted",
    )
    client_certificate_header: HeaderName = Field(
        default="", description='e.g. "X-Client-Cert": a URL-encoded PEM from a trusted proxy'
    )

    @model_validator(mode="after")
    def _tls_pair(self) -> ServerSettings:
        if bool(self.tls_certificate) != bool(self.tls_private_key):
            missing = "tls_private_key" if self.tls_certificate else "tls_certificate"
            raise ValueError(f"{missing} is needed too: HTTPS takes a certificate and its key")
        return self

    @property
    def tls(self) -> bool:
        """Whether `serve` speaks HTTPS."""
        return bool(self.tls_certificate)
