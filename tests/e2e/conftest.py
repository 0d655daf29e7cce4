from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.server import RunningServer, run_server
from tests.e2e.upstream import Upstream, routes, run_upstream
from tests.tls_certificates import CertificateAuthority


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    """authgate with every default, its SQLite file in tmp_path."""
    with run_server(tmp_path) as running:
        yield running


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    """A real upstream API that records every call it gets."""
    with run_upstream() as running:
        yield running


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, upstream: Upstream) -> Iterator[RunningServer]:
    """authgate with the gateway routes of tests.e2e.upstream.routes in front of `upstream`."""
    with run_server(tmp_path_factory.mktemp("gw"), {"gateway.routes": routes(upstream.url)}) as s:
        yield s


@dataclass
class Pki:
    """The TLS tests' CA, another CA nobody trusts, and a folder for more certificates."""

    ca: CertificateAuthority
    other_ca: CertificateAuthority
    directory: Path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    return Pki(
        CertificateAuthority(directory),
        CertificateAuthority(directory, "CN=Other CA,O=elsewhere"),
        directory,
    )
