"""Small wire-level helpers shared by the grant and revocation tests."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.e2e.server import RunningServer


def endpoint(server: RunningServer, name: str) -> str:
    """An endpoint from the metadata document, reached at the server's real address."""
    url: str = server.metadata()[name]
    return url.replace(server.settings.effective_issuer(), server.url)


def token_request(
    server: RunningServer, data: dict[str, str], auth: tuple[str, str | None] | None = None
) -> httpx.Response:
    """POST /oauth2/token; `auth` with a secret goes in HTTP Basic, without one in the body."""
    data = dict(data)
    basic = None
    if auth is not None:
        client_id, secret = auth
        if secret is None:
            data["client_id"] = client_id
        else:
            basic = (client_id, secret)
    return httpx.post(f"{server.url}/oauth2/token", data=data, auth=basic)


def assert_error(response: httpx.Response, error: str, status: int = 400) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == error
    assert response.headers["cache-control"] == "no-store"


def assert_tokens(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    return body


class Introspector:
    """A resource server registered with `--introspect`."""

    def __init__(self, server: RunningServer) -> None:
        client, secret = server.create_client(
            "resource-server", grant_types=[], can_introspect=True
        )
        self.server = server
        self.auth = (client.client_id, secret or "")

    def __call__(self, token: str) -> dict[str, Any]:
        response = httpx.post(
            f"{self.server.url}/oauth2/introspect", data={"token": token}, auth=self.auth
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def active(self, token: str) -> bool:
        return bool(self(token)["active"])


def concurrent_posts(
    url: str, requests: list[tuple[dict[str, str], tuple[str, str]]]
) -> list[httpx.Response]:
    """Send every request at once over separate connections.

    The grant tests are synchronous clients of a server on another thread, and
    test_stores_e2e.py calls some of them as plain functions: so the requests run to the end on
    a loop of their own, here.
    """
    return asyncio.run(_post_all(url, requests))


async def _post_all(
    url: str, requests: list[tuple[dict[str, str], tuple[str, str]]]
) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=len(requests))
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        return list(
            await asyncio.gather(
                *(client.post(url, data=data, auth=auth) for data, auth in requests)
            )
        )
