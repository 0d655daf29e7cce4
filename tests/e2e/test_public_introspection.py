"""Introspection needs a confidential client (SPEC.md, "Hardening"; issue 11, finding 9)."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import update

from authgate.db.schema import clients
from authgate.registry import InvalidClient
from tests.e2e.test_cli import authgate


def test_client_create_public_introspect_is_refused(tmp_path):
    result = authgate(
        tmp_path,
        *("client", "create", "--name", "rs", "--redirect-uri", "https://rs.example/cb"),
        *("--public", "--introspect"),
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "public client cannot introspect" in result.stderr
    listed = authgate(tmp_path, "client", "list", "--json")
    assert listed.returncode == 0 and listed.stdout.strip() == "[]"  # nothing registered


def test_the_registry_refuses_a_public_introspecting_client(server):
    with pytest.raises(InvalidClient) as refused:
        server.create_client(
            "rs", is_public=True, can_introspect=True, redirect_uris=["https://a/cb"]
        )
    assert refused.value.field == "introspect"
    public, _ = server.create_client("spa", is_public=True, redirect_uris=["https://a/cb"])
    with pytest.raises(InvalidClient):
        server.run(server.services.registry.update_client(public.client_id, can_introspect=True))


async def _flag_as_introspecting(server, client_id: str) -> None:
    """What an old row may hold: a public client with the introspection flag."""
    async with server.services.registry.transaction() as conn:
        await conn.execute(
            update(clients).where(clients.c.client_id == client_id).values(can_introspect=True)
        )


def test_a_public_client_with_the_flag_cannot_introspect(server):
    public, _ = server.create_client(
        "spa", is_public=True, grant_types=["password"], redirect_uris=["https://a/cb"]
    )
    server.run(_flag_as_introspecting(server, public.client_id))
    issuer, secret = server.create_client("app", grant_types=["client_credentials"])
    token = httpx.post(
        f"{server.url}/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(issuer.client_id, secret or ""),
    ).json()["access_token"]
    # A public client authenticates with its id alone, which is no secret.
    data = {"token": token, "client_id": public.client_id}
    answer = httpx.post(f"{server.url}/oauth2/introspect", data=data)
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client"
    assert "active" not in answer.text
