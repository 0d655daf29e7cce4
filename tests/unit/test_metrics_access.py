"""Who may read /metrics (SPEC.md, "Hardening"; issue 11, finding 6), at the ASGI level: the
real app, with the peer address a test chooses."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from authgate.app import create_app
from authgate.config import load_settings
from authgate.monitoring.access import is_loopback

pytestmark = pytest.mark.anyio

TOKEN = "metrics-token-of-the-test"


@pytest.fixture
async def app_with(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """Start the app (its lifespan) with `metrics_token`; yields a factory of clients."""
    started = []

    async def start(metrics_token: str = "") -> Any:
        environ = {"AUTHGATE_STORAGE__URL": f"sqlite:///{tmp_path}/authgate.db"}
        if metrics_token:
            environ["AUTHGATE_MONITORING__METRICS_TOKEN"] = metrics_token
        app = create_app(load_settings(environ=environ))
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        started.append(lifespan)

        def peer(host: str) -> httpx.AsyncClient:
            transport = httpx.ASGITransport(app=app, client=(host, 40000))
            return httpx.AsyncClient(transport=transport, base_url="http://authgate")

        return peer

    yield start
    for lifespan in started:
        await lifespan.__aexit__(None, None, None)


async def metrics(peer, host: str, **headers: str) -> httpx.Response:
    client: httpx.AsyncClient
    async with peer(host) as client:
        return await client.get("/metrics", headers=headers)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
async def test_a_loopback_peer_reads_the_metrics_without_a_token(app_with, host):
    peer = await app_with()
    answer = await metrics(peer, host)
    assert answer.status_code == 200
    assert "authgate" in answer.text or "# HELP" in answer.text


@pytest.mark.parametrize("host", ["203.0.113.7", "10.0.0.1", "::2", "fe80::1", "testclient"])
async def test_any_other_peer_is_refused_without_a_token(app_with, host):
    peer = await app_with()
    answer = await metrics(peer, host)
    assert answer.status_code == 403
    assert "# HELP" not in answer.text


async def test_with_a_token_only_its_bearer_reads_the_metrics(app_with):
    peer = await app_with(TOKEN)
    for host in ("203.0.113.7", "127.0.0.1"):  # loopback too needs the token now
        missing = await metrics(peer, host)
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"].startswith('Bearer realm="authgate"')
        wrong = await metrics(peer, host, Authorization=f"Bearer {TOKEN}x")
        assert wrong.status_code == 401
        assert 'error="invalid_token"' in wrong.headers["www-authenticate"]
        basic = await metrics(peer, host, Authorization="Basic bWV0cmljczp4")
        assert basic.status_code == 401
        right = await metrics(peer, host, Authorization=f"Bearer {TOKEN}")
        assert right.status_code == 200 and "# HELP" in right.text


def test_loopback_addresses():
    assert is_loopback("127.0.0.1") and is_loopback("127.255.255.254") and is_loopback("::1")
    assert not is_loopback("128.0.0.1") and not is_loopback(None) and not is_loopback("")
