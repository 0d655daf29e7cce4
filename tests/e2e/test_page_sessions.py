"""The login pages and the manager keep their sessions in one store, apart by realm: a cookie
of one is no session of the other, whatever name it is sent under."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.browser import Browser, only_form
from tests.e2e.server import RunningServer, run_server

REDIRECT = "https://photos.example/cb"
NAME, PASSWORD = "root", "one password for both doors"  # a user and an administrator


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with run_server(tmp_path_factory.mktemp("realms")) as running:
        running.create_user(NAME, PASSWORD)
        running.run(running.services.registry.create_admin(NAME, PASSWORD))
        yield running


def authorize(server: RunningServer, browser: Browser) -> httpx.Response:
    client, _ = server.create_client(
        "Photo Importer", redirect_uris=[REDIRECT], scopes=["photos.read"]
    )
    return browser.authorize(
        response_type="code",
        client_id=client.client_id,
        redirect_uri=REDIRECT,
        scope="photos.read",
        code_challenge="c" * 43,
        code_challenge_method="S256",
    )


def manager_csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]*)"', html)
    assert match, html
    return match.group(1)


def manager_login(server: RunningServer) -> tuple[str, str]:
    """(cookie, CSRF token) of a logged-in manager session."""
    with httpx.Client(base_url=server.url) as http:
        page = http.get("/manager/login")
        answer = http.post(
            "/manager/login",
            data={"csrf_token": manager_csrf(page.text), "username": NAME, "password": PASSWORD},
        )
        assert answer.status_code == 303 and answer.headers["location"] == "/manager"
        dashboard = http.get("/manager")
        assert dashboard.status_code == 200
        return http.cookies["authgate_manager"], manager_csrf(dashboard.text)


def test_a_login_session_is_no_manager_session(server):
    with Browser(server.url) as browser:
        consent = browser.login(authorize(server, browser), NAME, PASSWORD)
        assert "decision" in only_form(consent).buttons  # logged in at the login pages
        cookie, csrf = browser.session_cookie, only_form(consent).fields["csrf_token"]
    assert cookie
    with httpx.Client(base_url=server.url, cookies={"authgate_manager": cookie}) as http:
        answer = http.get("/manager")
        assert answer.status_code == 303 and answer.headers["location"] == "/manager/login"
        assert http.get("/manager/api/usage").status_code == 401
        # Not even a pre-login browser: the login page signs a cookie of its own.
        assert "authgate_manager_login=" in http.get("/manager/login").headers["set-cookie"]
    with httpx.Client(base_url=server.url, cookies={"authgate_manager": cookie}) as http:
        answer = http.post(
            "/manager/login", data={"csrf_token": csrf, "username": NAME, "password": PASSWORD}
        )
        assert answer.status_code == 403


def test_a_manager_session_is_no_login_session(server):
    cookie, csrf = manager_login(server)
    with Browser(server.url) as browser:
        browser.http.cookies.set("authgate_session", cookie)
        page = authorize(server, browser)
        # Logged in as the manager's `root`, yet the login pages ask who is there.
        assert "password" in only_form(page).fields
        assert "authgate_session=" in page.headers["set-cookie"]
    with Browser(server.url) as browser:
        page = authorize(server, browser)
        browser.http.cookies.clear()
        browser.http.cookies.set("authgate_session", cookie)
        answer = browser.submit(page, {"csrf_token": csrf, "username": NAME, "password": PASSWORD})
        assert answer.status_code == 403
        assert "location" not in answer.headers
