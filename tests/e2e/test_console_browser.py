"""A real headless Chromium drives the manager console with the keyboard: an operator
registers a client, rotates its secret, withdraws a user's consent and adds a route; axe-core
finds no serious or critical violation on any manager page. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.axe import axe_source, blocking_violations, report
from tests.e2e.server import RunningServer, run_server
from tests.e2e.test_manager_browser import ARTIFACTS, chromium  # noqa: F401 (a fixture)

pytestmark = pytest.mark.browser

ADMIN, PASSWORD = "ops", "a long admin password"
CONFIGURED = [{"path": "/api/files", "upstream": "http://127.0.0.1:9", "service": "files"}]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    with run_server(tmp_path, {"gateway.routes": json.dumps(CONFIGURED)}) as running:
        running.run(running.services.registry.create_admin(ADMIN, PASSWORD))
        yield running


@pytest.fixture
def axe() -> str:
    return axe_source()


class Operator:
    """One browser tab, driven with the keyboard where a person would."""

    def __init__(self, page: Any, base: str) -> None:
        self.page = page
        self.base = base

    def focused(self) -> str:
        """What has the focus: `#id`, or the tag and its text."""
        return str(
            self.page.evaluate(
                "() => { const e = document.activeElement;"
                " return e.id ? '#' + e.id : e.tagName.toLowerCase() + ':' + e.textContent.trim() }"
            )
        )

    def tab_to(self, target: str, limit: int = 40) -> list[str]:
        """Press Tab until `target` has the focus; the stops on the way (the focus order)."""
        stops: list[str] = []
        for _ in range(limit):
            self.page.keyboard.press("Tab")
            stops.append(self.focused())
            if stops[-1] == target:
                return stops
        raise AssertionError(f"Tab never reached {target}: {stops}")

    def type_into(self, target: str, text: str) -> list[str]:
        stops = self.tab_to(target)
        self.page.keyboard.type(text)
        return stops

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(ARTIFACTS / f"console-{name}.png"), full_page=True)


def test_operator_uses_the_console_with_the_keyboard(chromium, server, axe):  # noqa: F811
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
            else None  # the 404 and 422 pages this test opens on purpose
        ),
    )
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    op = Operator(page, server.url)
    violations: dict[str, list[dict[str, Any]]] = {}

    def check(name: str) -> None:
        op.shot(name)
        found = blocking_violations(page, axe)
        if found:
            violations[name] = found

    # Log in: the name field has the focus, Tab leads to the password, Enter submits.
    page.goto(f"{server.url}/manager/login")
    check("login")
    assert op.focused() == "input:"  # autofocus on the name field
    page.keyboard.type(ADMIN)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server.url}/manager")
    check("dashboard")

    # The skip link comes first, then the navigation.
    page.keyboard.press("Tab")
    assert op.focused() == "a:Skip to the content"
    op.tab_to("a:Clients")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server.url}/manager/clients")
    check("clients-empty")
    op.tab_to("a:Register a client")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server.url}/manager/clients/new")
    check("client-new")

    # Register a client: every field in reading order.
    stops = op.type_into("#f-name", "Billing service")
    op.type_into("#f-redirect_uris", "https://billing.example/cb")
    assert op.focused() == "#f-redirect_uris"
    op.type_into("#f-scopes", "invoices.read invoices.write")
    op.tab_to("#f-grant_types-client_credentials")
    page.keyboard.press("Space")
    stops = op.tab_to("button:Register")
    assert stops == ["#f-public", "#f-introspect", "button:Register"]
    page.keyboard.press("Enter")
    page.wait_for_selector("#client-secret")
    client_id = page.text_content("#client-id")
    first_secret = page.text_content("#client-secret")
    assert first_secret and re.fullmatch(r"[A-Za-z0-9]+", first_secret)
    op.tab_to("button:Copy")
    page.keyboard.press("Enter")
    expect(page.locator("#copy-status")).to_have_text("Copied.")
    assert page.evaluate("navigator.clipboard.readText()") == first_secret
    check("client-registered")

    # The client's page: the secret is not there; rotate it.
    page.goto(f"{server.url}/manager/clients/{client_id}")
    assert first_secret not in page.content()
    check("client")
    op.type_into("#f-grace", "0")  # after the 0 already there: "00", still 0 seconds
    op.tab_to("button:Rotate secret")
    page.keyboard.press("Enter")
    page.wait_for_selector("#client-secret")
    second_secret = page.text_content("#client-secret")
    assert second_secret and second_secret != first_secret
    check("client-rotated")
    page.goto(f"{server.url}/manager/clients/{client_id}/delete")
    op.tab_to("button:Delete the client")  # not focused at first: Enter deletes nothing
    page.keyboard.press("Tab")
    assert op.focused() == "a:Cancel"
    check("client-delete")

    # A user who approved the client always: withdraw the consent.
    server.create_user("alice", "her password")
    registry = server.services.registry
    server.run(registry.consents.remember_consent("alice", client_id, ["invoices.read"]))
    page.goto(f"{server.url}/manager/users")
    check("users")
    op.tab_to("a:alice")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/manager/users/show\?username=alice$"))
    assert "Billing service" in page.text_content("#consents")
    check("user")
    op.tab_to("button:Withdraw")
    page.keyboard.press("Enter")
    page.wait_for_selector("p.done")
    assert "withdrawn" in page.text_content("p.done")
    assert "No consent is remembered." in page.text_content("#consents")
    assert server.run(registry.consents.remembered_scopes("alice", client_id)) == frozenset()
    check("user-withdrawn")
    page.goto(f"{server.url}/manager/users/delete?username=alice")
    check("user-delete")

    # Routes: a broken upstream comes back with the focus on it, then the route is added.
    page.goto(f"{server.url}/manager/routes")
    check("routes")
    op.type_into("#f-path", "/api/invoices")
    op.type_into("#f-upstream", "ftp://billing.example")
    op.type_into("#f-service", "invoices")
    op.type_into("#f-scopes", "invoices.read")
    op.tab_to("button:Add route")
    page.keyboard.press("Enter")
    page.wait_for_selector(".field-error")
    assert op.focused() == "#f-upstream"
    assert page.get_attribute("#f-upstream", "aria-describedby") == "h-upstream e-upstream"
    check("route-error")
    page.keyboard.press("Control+A")
    page.keyboard.type("http://127.0.0.1:9/invoices")
    page.keyboard.press("Enter")
    page.wait_for_selector("p.done")
    assert "/api/invoices" in page.text_content("#routes")
    check("route-added")
    page.goto(f"{server.url}/manager/routes/delete?service=invoices")
    check("route-delete")

    for path, name in (
        ("/manager/traffic", "traffic"),
        ("/manager/applications", "applications"),
        ("/manager/traffic/unknown", "transaction-missing"),
        ("/manager/clients/unknown", "client-missing"),
    ):
        page.goto(server.url + path)
        check(name)

    # Focus is visible: the focused control draws an outline.
    page.goto(f"{server.url}/manager/routes")
    op.tab_to("#f-path")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("none", "")

    assert violations == {}, report(violations)
    assert errors == []  # no CSP violation, no script error
    context.close()
