"""Sandbox and production at the gateway, and an application's usage, over real HTTP with two
real upstreams: a sandbox key's token, opaque or JWT, goes to the route's `sandbox_upstream`, or
nowhere."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import RunningServer, run_server
from tests.e2e.test_admin_api import client_token
from tests.e2e.test_portal_api import Developer
from tests.e2e.upstream import Upstream, bearer, flush, issue, run_upstream

KEY = {"grant_types": ["client_credentials"], "scopes": ["photos.read", "videos.read"]}


@pytest.fixture
def sandbox_upstream() -> Iterator[Upstream]:
    with run_upstream() as running:
        yield running


@pytest.fixture(params=["opaque", "jwt"])
def server(
    request: pytest.FixtureRequest, tmp_path: Path, upstream: Upstream, sandbox_upstream: Upstream
) -> Iterator[RunningServer]:
    table = [
        {
            "path": "/api/photos",
            "upstream": upstream.url,
            "sandbox_upstream": sandbox_upstream.url,
            "scopes": ["photos.read"],
            "service": "photos",
        },
        {"path": "/api/videos", "upstream": upstream.url, "service": "videos"},
    ]
    config = {"gateway.routes": json.dumps(table), "tokens.access_token_format": request.param}
    with run_server(tmp_path, config) as running:
        yield running


@pytest.fixture
def alice(server: RunningServer) -> Iterator[Developer]:
    client, secret = server.create_client(
        "portal-cli", scopes=("authgate:portal",), grant_types=("password",)
    )
    assert secret is not None
    developer = Developer(server, (client.client_id, secret), "alice")
    yield developer
    developer.http.close()


def keys(alice: Developer, server: RunningServer) -> tuple[str, dict[str, str]]:
    """An application with both keys; its id and a token of each key."""
    app_id = alice.new_app()
    tokens = {}
    for environment in ("production", "sandbox"):
        key = alice.post(f"/applications/{app_id}/keys/{environment}", json=KEY).json()
        tokens[environment] = client_token(server, key["client_id"], key["client_secret"])
        jwt = server.settings.token_settings("client_credentials").access_token_format == "jwt"
        assert tokens[environment].count(".") == (2 if jwt else 0)
    return app_id, tokens


def test_sandbox_tokens_reach_the_sandbox_upstream_and_production_ones_the_upstream(
    alice: Developer, server: RunningServer, upstream: Upstream, sandbox_upstream: Upstream
):
    _, tokens = keys(alice, server)
    before, sandbox_before = len(upstream.calls), len(sandbox_upstream.calls)

    production = httpx.get(f"{server.url}/api/photos/1", headers=bearer(tokens["production"]))
    assert production.status_code == 200
    assert len(upstream.calls) == before + 1
    assert len(sandbox_upstream.calls) == sandbox_before

    sandbox = httpx.get(f"{server.url}/api/photos/1?x=1", headers=bearer(tokens["sandbox"]))
    assert sandbox.status_code == 200
    assert len(upstream.calls) == before + 1
    assert len(sandbox_upstream.calls) == sandbox_before + 1
    assert sandbox_upstream.calls[-1]["raw_path"] == "/api/photos/1"
    assert sandbox_upstream.calls[-1]["query"] == "x=1"


def test_a_route_without_a_sandbox_upstream_refuses_sandbox_tokens(
    alice: Developer, server: RunningServer, upstream: Upstream, sandbox_upstream: Upstream
):
    _, tokens = keys(alice, server)
    before, sandbox_before = len(upstream.calls), len(sandbox_upstream.calls)
    refused = httpx.get(f"{server.url}/api/videos/1", headers=bearer(tokens["sandbox"]))
    assert refused.status_code == 403
    assert refused.json()["error"] == "insufficient_scope"
    assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]
    assert (len(upstream.calls), len(sandbox_upstream.calls)) == (before, sandbox_before)
    allowed = httpx.get(f"{server.url}/api/videos/1", headers=bearer(tokens["production"]))
    assert allowed.status_code == 200


def test_usage_counts_requests_and_distinct_users_per_service(
    alice: Developer, server: RunningServer
):
    app_id, tokens = keys(alice, server)
    sandbox_client = alice.get(f"/applications/{app_id}/keys/sandbox").json()["client_id"]
    assert alice.get(f"/applications/{app_id}/usage").json() == {
        "requests": 0,
        "users": 0,
        "services": {},
    }
    for path in ("/api/photos/1", "/api/photos/2", "/api/videos/1"):
        httpx.get(f"{server.url}{path}", headers=bearer(tokens["production"]))
    for user in ("carol", "dave", "carol"):
        token = issue(
            server,
            subject=user,
            client_id=sandbox_client,
            scopes=("photos.read",),
            is_sandbox=True,
        )
        httpx.get(f"{server.url}/api/photos/3", headers=bearer(token))
    # Another application's calls are not this one's.
    other = alice.new_app("Other")
    key = alice.post(f"/applications/{other}/keys/production", json=KEY).json()
    other_token = client_token(server, key["client_id"], key["client_secret"])
    httpx.get(f"{server.url}/api/photos/1", headers=bearer(other_token))
    flush(server)
    usage = alice.get(f"/applications/{app_id}/usage").json()
    assert usage == {"requests": 6, "users": 2, "services": {"photos": 5, "videos": 1}}
