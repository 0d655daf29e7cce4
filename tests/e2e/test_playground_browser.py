"""The playground in a real headless Chromium: Import Photos, sign in, approve, token shown."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.server import run_server

CHROMIUM = os.environ.get("AUTHGATE_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def _chromium() -> str:
    found = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if found is None:
        if os.environ.get("AUTHGATE_REQUIRE_BACKENDS") == "1":
            pytest.fail(f"chromium not found at {CHROMIUM} (AUTHGATE_REQUIRE_BACKENDS=1)")
        pytest.skip(f"chromium not found at {CHROMIUM}; install the chromium package")
    return found


@pytest.mark.browser
def test_playground_in_chromium(tmp_path, capsys):
    executable = _chromium()
    playwright_api = pytest.importorskip("playwright.sync_api")
    with run_server(tmp_path, demo=True) as server:
        printed = capsys.readouterr().out
        password = re.search(r"^\s+password:\s+(\S+)$", printed, re.MULTILINE)
        assert password, printed
        with playwright_api.sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=executable,
                headless=True,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            try:
                page = browser.new_page(viewport={"width": 1100, "height": 900})
                console_errors: list[str] = []

                def keep_errors(message: Any) -> None:
                    if message.type == "error":
                        console_errors.append(message.text)

                page.on("console", keep_errors)
                page.goto(f"{server.url}/playground")
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "playground-home.png"))
                page.get_by_role("link", name="Import Photos").click()

                page.wait_for_url(re.compile(r"/oauth2/authorize\?"))
                page.get_by_label("Username").fill("demo")
                page.get_by_label("Password").fill(password.group(1))
                page.screenshot(path=str(ARTIFACTS / "login.png"))
                page.get_by_role("button", name="Sign in").click()

                page.get_by_role("button", name="Approve Once").wait_for()
                assert "Photo Studio" in page.content()
                page.screenshot(path=str(ARTIFACTS / "consent.png"))
                page.get_by_role("button", name="Approve Once").click()

                page.wait_for_url(re.compile(r"/playground/callback\?"))
                page.get_by_role("heading", name="Photos imported").wait_for()
                token = json.loads(page.locator("#token-response").inner_text())
                introspection = json.loads(page.locator("#introspection").inner_text())
                page.screenshot(path=str(ARTIFACTS / "playground.png"), full_page=True)
            finally:
                browser.close()
    assert token["token_type"] == "Bearer"
    assert len(token["access_token"]) == 54
    assert introspection["active"] is True
    assert introspection["username"] == "demo"
    assert console_errors == []  # the CSP blocked nothing the pages need
