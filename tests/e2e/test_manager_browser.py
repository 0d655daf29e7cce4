"""A real headless Chromium drives the manager: login, live counters, a transaction's detail."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.axe import axe_source, blocking_violations, report
from tests.e2e.server import RunningServer, run_server
from tests.e2e.upstream import Upstream, bearer, issue, routes, run_upstream

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ADMIN, PASSWORD = "ops", "a long admin password"


def _unavailable(reason: str) -> None:
    if os.environ.get("AUTHGATE_REQUIRE_BACKENDS", "").strip().lower() in ("1", "true", "yes"):
        pytest.fail(f"chromium required (AUTHGATE_REQUIRE_BACKENDS=1): {reason}", pytrace=False)
    pytest.skip(f"chromium unavailable: {reason}")


@pytest.fixture
def chromium() -> Iterator[object]:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        _unavailable(f"{CHROMIUM} not found")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        _unavailable(f"playwright is not installed: {exc}")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[tuple[RunningServer, Upstream]]:
    with (
        run_upstream() as upstream,
        run_server(tmp_path, {"gateway.routes": routes(upstream.url)}) as server,
    ):
        server.run(server.services.registry.create_admin(ADMIN, PASSWORD))
        yield server, upstream


def test_admin_watches_usage_rise_and_opens_a_transaction(chromium, gateway):
    from playwright.sync_api import expect

    axe = axe_source()
    violations: dict[str, list[dict[str, object]]] = {}

    server, upstream = gateway
    ARTIFACTS.mkdir(exist_ok=True)
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on(
        "console",
        lambda m: (
            errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    failed: list[str] = []
    page.on(
        "response",
        lambda r: (
            failed.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico")
            else None
        ),
    )

    page.goto(f"{server.url}/manager")
    assert page.url.endswith("/manager/login")
    page.fill("input[name=username]", ADMIN)
    page.fill("input[name=password]", PASSWORD)
    page.screenshot(path=str(ARTIFACTS / "manager-login.png"))
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.url}/manager")
    expect(page.locator("#updated")).not_to_have_text("-")
    assert page.text_content("#total-requests") == "0"

    alice = issue(server, subject="alice", scopes=("photos.read", "videos.read"))
    bob = issue(server, subject="bob", scopes=("photos.read",))

    def traffic() -> None:
        for _ in range(6):
            httpx.get(f"{server.url}/api/photos/1?size=large", headers=bearer(alice))
        httpx.get(f"{server.url}/api/videos/7", headers=bearer(alice))
        httpx.get(f"{server.url}/api/videos/7", headers=bearer(bob))  # 403: a failure
        httpx.get(f"{server.url}/api/down/x", headers=bearer(bob))  # 502: a failure

    sender = threading.Thread(target=traffic)
    sender.start()
    sender.join(timeout=30)
    expect(page.locator("#total-requests")).to_have_text("9", timeout=15000)
    page.wait_for_selector("#clients tr[data-key='photos|alice']")
    assert page.text_content("#clients tr[data-key='photos|alice'] td:nth-child(3)") == "6"
    assert page.text_content("#services tr[data-key='down|'] td:nth-child(4)") == "1"
    assert page.locator("#chart polyline").count() >= 3
    page.screenshot(path=str(ARTIFACTS / "manager-dashboard.png"), full_page=True)
    violations["manager-dashboard"] = blocking_violations(page, axe)

    page.click("nav >> text=Traffic")
    page.select_option("select[name=client]", "alice")
    page.select_option("select[name=service]", "photos")
    page.click("form.filters button[type=submit]")
    page.wait_for_selector("#traffic tbody tr >> nth=5")
    assert page.locator("#traffic tbody tr").count() == 6
    page.screenshot(path=str(ARTIFACTS / "manager-traffic.png"), full_page=True)
    violations["manager-traffic"] = blocking_violations(page, axe)

    page.click("#traffic tbody tr:first-child a")
    page.wait_for_selector("#outbound")
    assert upstream.url in page.text_content("#outbound")
    assert "size=large" not in page.content()
    page.screenshot(path=str(ARTIFACTS / "manager-transaction.png"), full_page=True)
    violations["manager-transaction"] = blocking_violations(page, axe)
    assert errors == []  # no CSP violation, no script error
    assert failed == []
    assert {name: found for name, found in violations.items() if found} == {}, report(violations)
    context.close()
