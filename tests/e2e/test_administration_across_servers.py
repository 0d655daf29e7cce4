"""Two `authgate serve` processes on one registry: what the administration changes on one is
in force on the other, with no restart (a route within 5 s; a client at once)."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.backends import fresh_postgresql
from tests.e2e.processes import ServeProcess, cli, serve_many, write_config
from tests.e2e.upstream import run_upstream

API = "/admin/api/v1"
GRANT = {"grant_type": "client_credentials"}


@contextlib.contextmanager
def registry_url(kind: str, directory: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{directory / 'authgate.db'}"
        return
    with fresh_postgresql() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def servers(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Path, list[ServeProcess]]]:
    with registry_url(request.param, tmp_path) as registry:
        config = write_config(tmp_path / "authgate.toml", f'[storage]\nurl = "{registry}"\n')
        cli(config, "migrate")
        with serve_many(config, ["a", "b"]) as running:
            yield config, running


def new_client(config: Path, name: str, *scopes: str) -> tuple[str, str]:
    options = [arg for scope in scopes for arg in ("--scope", scope)]
    body = json.loads(
        cli(
            config,
            "client",
            "create",
            "--name",
            name,
            "--grant-type",
            "client_credentials",
            *options,
            "--json",
        )
    )
    return body["client_id"], body["client_secret"]


def token(server: ServeProcess, client: tuple[str, str], scope: str = "") -> httpx.Response:
    data = GRANT | ({"scope": scope} if scope else {})
    return httpx.post(f"{server.url}/oauth2/token", data=data, auth=client)


def until(condition: object, seconds: float) -> float:
    """Seconds until `condition()` held; fails after `seconds`."""
    started = time.monotonic()
    while not condition():  # type: ignore[operator]  # a callable
        assert time.monotonic() - started < seconds, f"not within {seconds} s"
        time.sleep(0.1)
    return time.monotonic() - started


def test_a_route_added_on_one_server_is_live_on_the_other_within_5_seconds(servers):
    config, (a, b) = servers
    operator = new_client(config, "operator", "authgate:admin")
    admin = {"Authorization": f"Bearer {token(a, operator).json()['access_token']}"}
    caller = new_client(config, "caller", "orders.read")
    bearer = {"Authorization": f"Bearer {token(b, caller).json()['access_token']}"}
    with run_upstream() as upstream:
        assert httpx.get(f"{b.url}/api/orders/1", headers=bearer).status_code == 404
        route = {
            "path": "/api/orders",
            "upstream": upstream.url,
            "scopes": ["orders.read"],
            "service": "orders",
        }
        added = httpx.post(f"{a.url}{API}/routes", json=route, headers=admin)
        assert added.status_code == 201, added.text

        waited = until(
            lambda: httpx.get(f"{b.url}/api/orders/1", headers=bearer).status_code == 200, 5
        )
        assert waited < 5
        assert upstream.calls[-1]["raw_path"] == "/api/orders/1"

        moved = httpx.put(
            f"{a.url}{API}/routes/orders", json={**route, "path": "/api/v2/orders"}, headers=admin
        )
        assert moved.status_code == 200
        until(lambda: httpx.get(f"{b.url}/api/v2/orders", headers=bearer).status_code == 200, 5)
        assert httpx.get(f"{b.url}/api/orders/1", headers=bearer).status_code == 404

        assert httpx.delete(f"{a.url}{API}/routes/orders", headers=admin).status_code == 204
        until(lambda: httpx.get(f"{b.url}/api/v2/orders", headers=bearer).status_code == 404, 5)


def test_a_client_changed_or_deleted_on_one_server_is_seen_by_the_other_at_once(servers):
    config, (a, b) = servers
    operator = new_client(config, "operator", "authgate:admin")
    admin = {"Authorization": f"Bearer {token(a, operator).json()['access_token']}"}
    app = new_client(config, "app", "read", "write")
    assert token(b, app, "write").status_code == 200  # b now holds the client in its cache

    patched = httpx.patch(
        f"{a.url}{API}/clients/{app[0]}", json={"scopes": ["read"]}, headers=admin
    )
    assert patched.status_code == 200
    refused = token(b, app, "write")
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_scope"

    rotated = httpx.post(f"{a.url}{API}/clients/{app[0]}/secret", headers=admin)
    new_secret = rotated.json()["client_secret"]
    assert token(b, app).status_code == 401
    assert token(b, (app[0], new_secret)).status_code == 200

    assert httpx.delete(f"{a.url}{API}/clients/{app[0]}", headers=admin).status_code == 204
    assert token(b, (app[0], new_secret)).status_code == 401
