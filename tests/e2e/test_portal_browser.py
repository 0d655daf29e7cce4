"""A real headless Chromium uses the developer portal as a new developer would: signs up,
creates an application, enters a callback, generates sandbox keys, runs Try it to a token,
regenerates the secret (the old one stops working) and revokes the approval on /account.
axe-core finds no serious or critical violation on any portal page; a screenshot of each
page goes to test-artifacts/.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.axe import blocking_violations, report
from tests.e2e.server import RunningServer, run_server
from tests.e2e.test_console_browser import Operator, axe  # noqa: F401 (a fixture)
from tests.e2e.test_manager_browser import ARTIFACTS, chromium  # noqa: F401 (a fixture)
from tests.e2e.upstream import flush

pytestmark = pytest.mark.browser

DEVELOPER, PASSWORD = "dana", "a long developer password"
# Nothing listens at port 9: the calls fail upstream (502), and count all the same.
ROUTES = [
    {
        "path": "/api/photos",
        "upstream": "http://127.0.0.1:9",
        "sandbox_upstream": "http://127.0.0.1:9",
        "service": "photos",
    }
]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    config = {
        "portal.signup": "open",
        "portal.scopes": json.dumps(["photos.read", "openid"]),
        "gateway.routes": json.dumps(ROUTES),
    }
    with run_server(tmp_path, config) as running:
        yield running


def token_status(server: RunningServer, client_id: str, secret: str) -> int:
    """The token endpoint's status for these credentials: 401 when the secret is wrong."""
    answer = httpx.post(
        f"{server.url}/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
    )
    return answer.status_code


def test_a_new_developer_uses_the_portal(chromium, server, axe):  # noqa: F811
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(exist_ok=True)
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    page = context.new_page()
    errors: list[str] = []
    page.on(
        "console",
        lambda m: (
            errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None  # the 422 pages this test opens on purpose
        ),
    )
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    dev = Operator(page, server.url)
    violations: dict[str, list[dict[str, Any]]] = {}

    def check(name: str) -> None:
        page.screenshot(path=str(ARTIFACTS / f"portal-{name}.png"), full_page=True)
        found = blocking_violations(page, axe)
        if found:
            violations[name] = found

    # Sign-in page, then sign up: the name field has the focus, the fields in reading order.
    page.goto(f"{server.url}/portal")
    page.wait_for_url(re.compile(r".*/portal/login\?next=%2Fportal$"))
    check("signin")
    dev.tab_to("a:Create an account")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server.url}/portal/signup")
    check("signup")
    dev.type_into("#f-username", DEVELOPER)
    dev.type_into("#f-password", PASSWORD)
    dev.type_into("#f-password_again", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/portal\?done=welcome$"))
    assert "Your account was created" in page.text_content("p.done")
    check("applications-empty")

    # Create an application.
    dev.tab_to("a:Create an application")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server.url}/portal/applications/new")
    check("application-new")
    dev.type_into("#f-name", "Photo frame")
    stops = dev.type_into("#f-description", "Shows the family's photos")
    assert stops == ["#f-description"]
    dev.tab_to("button:Create")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/portal/applications/[A-Za-z0-9]+\?done=created$"))
    app_id = page.url.split("/portal/applications/")[1].split("?")[0]
    check("application")

    # The Sandbox keys tab: enter the callback of Try it, generate the keys.
    dev.tab_to("a:Sandbox keys")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server.url}/portal/applications/{app_id}/keys/sandbox")
    check("keys-sandbox-empty")
    callback = f"{server.url}/portal/try/callback"
    dev.type_into("#f-redirect_uris", callback)
    stops = dev.type_into("#f-scopes", "photos.read openid")
    assert stops == [  # the grant types of [portal] grant_types, in order
        "#f-grant_types-authorization_code",
        "#f-grant_types-refresh_token",
        "#f-grant_types-client_credentials",
        "#f-scopes",
    ]
    dev.tab_to("button:Generate keys")
    page.keyboard.press("Enter")
    page.wait_for_selector("#consumer-secret")
    client_id = page.text_content("#consumer-key") or ""
    first_secret = page.text_content("#consumer-secret") or ""
    assert re.fullmatch(r"[A-Za-z0-9]+", first_secret)
    dev.tab_to("button:Copy")
    page.keyboard.press("Enter")
    expect(page.locator("#copy-status")).to_have_text("Copied.")
    assert page.evaluate("navigator.clipboard.readText()") == first_secret
    check("keys-generated")
    page.goto(f"{server.url}/portal/applications/{app_id}/keys/sandbox")
    assert first_secret not in page.content()
    check("keys-sandbox")
    page.goto(f"{server.url}/portal/applications/{app_id}/keys/production")
    check("keys-production")

    # Try it: the code flow as the sandbox keys, to a token.
    page.goto(f"{server.url}/portal/applications/{app_id}/try")
    check("try-it")
    assert page.input_value("#f-redirect_uri") == callback
    dev.type_into("#f-client_secret", "not the secret")
    page.keyboard.press("Enter")
    page.wait_for_selector(".field-error")
    assert dev.focused() == "#f-client_secret"
    check("try-it-error")
    page.keyboard.type(first_secret)
    page.keyboard.press("Enter")
    page.wait_for_selector("button[value=approve_always]")  # signed in already: consent
    check("consent")
    page.click("button[value=approve_always]")
    page.wait_for_selector("#token-response")
    token = json.loads(page.text_content("#token-response") or "{}")
    assert token["token_type"] == "Bearer" and token["id_token"]
    assert json.loads(page.text_content("#introspection") or "{}")["active"] is True
    assert json.loads(page.text_content("#id-token") or "{}")["claims"]["aud"] == client_id
    check("try-it-token")

    # Regenerate the secret: the old one stops working at once.
    assert token_status(server, client_id, first_secret) == 400  # authenticated: no such grant
    page.goto(f"{server.url}/portal/applications/{app_id}/keys/sandbox")
    dev.tab_to("button:Regenerate secret")
    page.keyboard.press("Enter")
    page.wait_for_selector("#consumer-secret")
    second_secret = page.text_content("#consumer-secret") or ""
    assert second_secret and second_secret != first_secret
    check("secret-regenerated")
    assert token_status(server, client_id, first_secret) == 401
    assert token_status(server, client_id, second_secret) == 400

    # Usage: the calls made with the token of Try it.
    for _ in range(3):
        httpx.get(
            f"{server.url}/api/photos/1",
            headers={"Authorization": f"Bearer {token['access_token']}"},
        )
    flush(server)
    page.goto(f"{server.url}/portal/applications/{app_id}/usage")
    assert page.text_content("#usage-requests") == "3"
    assert page.text_content("#usage-users") == "1"
    assert page.locator(".usage-chart rect").count() == 1
    check("usage")

    # The confirmation before a deletion (not focused: Enter deletes nothing).
    page.goto(f"{server.url}/portal/applications/{app_id}/delete")
    check("delete")

    # /account: the approval, revoked; then sign out.
    page.goto(f"{server.url}/account")
    assert "Photo frame (sandbox)" in page.text_content("main")
    check("account")
    dev.tab_to("button:Revoke Photo frame (sandbox)")
    page.keyboard.press("Enter")
    page.wait_for_selector("#no-approvals")
    assert "revoked" in page.text_content("p.done")
    check("account-revoked")
    from authgate.tokens import digest

    assert server.run(server.services.tokens.get(digest(token["access_token"]))) is None
    dev.tab_to("button:Sign out")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server.url}/logout")
    page.goto(f"{server.url}/portal")
    page.wait_for_url(re.compile(r".*/portal/login\?next=%2Fportal$"))

    # Focus is visible: the focused control draws an outline.
    page.keyboard.press("Tab")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("none", "")

    assert violations == {}, report(violations)
    assert errors == []  # no CSP violation, no script error
    context.close()
