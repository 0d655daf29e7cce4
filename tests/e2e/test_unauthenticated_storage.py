"""An unauthenticated request stores at most one bounded row (SPEC.md, "Hardening"; issue 11,
finding 10): the manager's login page stores nothing, an authorization request is bounded."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select

from authgate.db.schema import metadata
from tests.e2e.browser import Browser, redirect_params
from tests.e2e.test_manager import csrf

REDIRECT = "https://app.example/cb"


async def _row_counts(server) -> dict[str, int]:
    counts = {}
    async with server.services.registry.transaction() as conn:
        for table in metadata.sorted_tables:
            counts[table.name] = (
                await conn.execute(select(func.count()).select_from(table))
            ).scalar_one()
    return counts


def test_50_gets_of_the_manager_login_page_store_nothing(server):
    before = server.run(_row_counts(server))
    for _ in range(50):
        with httpx.Client(base_url=server.url) as browser:
            page = browser.get("/manager/login")
            assert page.status_code == 200 and csrf(page.text)
    assert server.run(_row_counts(server)) == before


def test_the_signed_login_token_is_bound_to_its_browser(server):
    server.run(server.services.registry.create_admin("root", "pw"))
    with httpx.Client(base_url=server.url) as mine, httpx.Client(base_url=server.url) as other:
        token = csrf(mine.get("/manager/login").text)
        theirs = csrf(other.get("/manager/login").text)
        login = {"username": "root", "password": "pw"}
        assert other.post("/manager/login", data=login | {"csrf_token": token}).status_code == 403
        assert mine.post("/manager/login", data=login | {"csrf_token": theirs}).status_code == 403
        tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
        assert mine.post("/manager/login", data=login | {"csrf_token": tampered}).status_code == 403
        with httpx.Client(base_url=server.url) as cookieless:
            assert (
                cookieless.post("/manager/login", data=login | {"csrf_token": token}).status_code
                == 403
            )
        assert mine.post("/manager/login", data=login | {"csrf_token": token}).status_code == 303


@pytest.fixture
def web_client(server):
    client, _ = server.create_client("web", redirect_uris=[REDIRECT], scopes=["read"])
    return client


def authorize(server, client, **extra):
    with Browser(server.url) as browser:
        return browser.authorize(
            response_type="code", client_id=client.client_id, redirect_uri=REDIRECT, **extra
        )


@pytest.mark.parametrize("name", ["state", "nonce"])
def test_state_or_nonce_over_1024_characters_is_invalid_request(server, web_client, name):
    refused = authorize(server, web_client, **{name: "s" * 1025})
    assert refused.status_code == 302
    assert redirect_params(refused)["error"] == "invalid_request"
    accepted = authorize(server, web_client, **{name: "s" * 1024})
    assert accepted.status_code == 200  # the login page


def test_scope_over_4096_characters_is_invalid_scope(server, web_client):
    refused = authorize(server, web_client, scope=" ".join(["read"] * 820))  # 4099 characters
    assert refused.status_code == 302
    assert redirect_params(refused)["error"] == "invalid_scope"
    assert authorize(server, web_client, scope=" ".join(["read"] * 819)).status_code == 200
