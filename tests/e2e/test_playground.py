"""`authgate serve --demo`: the playground client, driven with plain HTTP form posts."""

from __future__ import annotations

import html as html_module
import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.browser import Browser, only_form
from tests.e2e.server import RunningServer, run_server


def demo_credentials(printed: str) -> dict[str, str]:
    found = dict(
        re.findall(r"^\s+(user|password|client_id|client_secret):\s+(\S+)$", printed, re.MULTILINE)
    )
    assert set(found) == {"user", "password", "client_id", "client_secret"}, printed
    return found


@pytest.fixture
def demo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> Iterator[tuple[RunningServer, dict[str, str]]]:
    with run_server(tmp_path, demo=True) as running:
        yield running, demo_credentials(capsys.readouterr().out)


def follow(browser: Browser, answer: httpx.Response) -> httpx.Response:
    while answer.status_code in (302, 303):
        answer = browser.get(answer.headers["location"])
    return answer


def test_playground_imports_photos_with_a_real_token(demo):
    server, creds = demo
    with Browser(server.url) as browser:
        home = browser.get("/playground")
        assert home.status_code == 200
        assert "Import Photos" in home.text
        login = follow(browser, browser.get("/playground/start"))
        consent = browser.login(login, creds["user"], creds["password"])
        assert "Photo Studio" in consent.text
        done = follow(browser, browser.decide(consent, "approve_once"))
    assert done.status_code == 200, done.text
    assert "Photos imported" in done.text
    token = json.loads(_pre(done.text, "token-response"))
    assert token["token_type"] == "Bearer"
    assert token["scope"] == "photos.read photos.write"
    introspection = json.loads(_pre(done.text, "introspection"))
    assert introspection["active"] is True
    assert introspection["username"] == "demo"
    assert introspection["client_id"] == creds["client_id"]


def test_playground_callback_refuses_a_foreign_state(demo):
    server, _ = demo
    with Browser(server.url) as browser:
        browser.get("/playground/start")
        answer = browser.get(f"/playground/callback?code=abc&state=forged&iss={server.url}")
    assert answer.status_code == 400
    assert "State mismatch" in answer.text


def test_demo_seeding_is_idempotent_and_renews_the_credentials(tmp_path, capsys):
    with run_server(tmp_path, demo=True):
        first = demo_credentials(capsys.readouterr().out)
    with run_server(tmp_path, demo=True) as server:
        second = demo_credentials(capsys.readouterr().out)
        assert second["client_id"] == first["client_id"]
        assert second["client_secret"] != first["client_secret"]
        clients = [
            c
            for c in server.run(server.services.registry.list_clients())
            if c.client_id == second["client_id"]
        ]
        assert len(clients) == 1
        with Browser(server.url) as browser:
            login = follow(browser, browser.get("/playground/start"))
            assert (
                "decision"
                in only_form(browser.login(login, second["user"], second["password"])).buttons
            )


def test_playground_is_only_mounted_in_demo_mode(server):
    assert httpx.get(f"{server.url}/playground").status_code == 404


def _pre(html: str, element_id: str) -> str:
    match = re.search(rf'<pre class="json" id="{element_id}">(.*?)</pre>', html, re.DOTALL)
    assert match, html
    return html_module.unescape(match.group(1))


def test_playground_shows_the_decoded_id_token_when_openid_is_asked(demo):
    server, creds = demo
    with Browser(server.url) as browser:
        assert "/playground/start?openid=1" in browser.get("/playground").text
        login = follow(browser, browser.get("/playground/start?openid=1"))
        consent = browser.login(login, creds["user"], creds["password"])
        assert "openid" in consent.text
        done = follow(browser, browser.decide(consent, "approve_once"))
    assert done.status_code == 200, done.text
    token = json.loads(_pre(done.text, "token-response"))
    assert token["scope"] == "openid photos.read photos.write" and "id_token" in token
    decoded = json.loads(_pre(done.text, "id-token"))
    assert decoded["header"]["alg"] == "RS256" and decoded["header"]["kid"]
    assert decoded["claims"]["sub"] == "demo" and decoded["claims"]["aud"] == creds["client_id"]
    assert decoded["claims"]["nonce"]


def test_playground_without_openid_shows_no_id_token(demo):
    server, creds = demo
    with Browser(server.url) as browser:
        login = follow(browser, browser.get("/playground/start"))
        consent = browser.login(login, creds["user"], creds["password"])
        done = follow(browser, browser.decide(consent, "approve_once"))
    assert 'id="id-token"' not in done.text
