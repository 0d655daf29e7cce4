"""`POST /logout` ends the browser's login session (SPEC.md, "Hardening"; issue 11, finding 11)."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.browser import Browser, only_form
from tests.e2e.server import RunningServer

REDIRECT = "https://photos.example/cb"
NAME, PASSWORD = "alice", "alice-password"


@pytest.fixture
def photos(server: RunningServer):
    server.create_user(NAME, PASSWORD)
    client, _ = server.create_client("Photos", redirect_uris=[REDIRECT], scopes=["read"])
    return client


def authorize(browser: Browser, client) -> httpx.Response:
    return browser.authorize(
        response_type="code",
        client_id=client.client_id,
        redirect_uri=REDIRECT,
        scope="read",
        code_challenge="c" * 43,
        code_challenge_method="S256",
    )


def logged_in(browser: Browser, client) -> httpx.Response:
    """The consent page of a browser that has just logged in."""
    consent = browser.login(authorize(browser, client), NAME, PASSWORD)
    assert "decision" in only_form(consent).buttons
    return consent


def test_the_consent_page_offers_logout_and_it_ends_the_login_session(server, photos):
    with Browser(server.url) as browser:
        consent = logged_in(browser, photos)
        form = only_form(consent)
        assert "logout" in form.buttons  # a button of the consent form, posted to /logout
        assert 'formaction="/logout"' in consent.text
        assert "decision" in only_form(authorize(browser, photos)).buttons  # still logged in
        cookie = browser.session_cookie
        answer = browser.http.post(
            "/logout", data={"csrf_token": form.fields["csrf_token"], "logout": "1"}
        )
        assert answer.status_code == 200
        assert "signed out" in answer.text
        assert answer.headers["x-frame-options"] == "DENY"
        assert browser.session_cookie is None  # the cookie is cleared
        assert "password" in only_form(authorize(browser, photos)).fields  # asked to log in
    with Browser(server.url) as replay:  # and the old cookie names no session any more
        replay.http.cookies.set("authgate_session", cookie or "")
        assert "password" in only_form(authorize(replay, photos)).fields


@pytest.mark.parametrize("case", ["no_token", "other_session", "foreign_origin", "no_cookie"])
def test_a_logout_without_the_sessions_csrf_token_is_refused(server, photos, case):
    with Browser(server.url) as browser, Browser(server.url) as other:
        token = only_form(logged_in(browser, photos)).fields["csrf_token"]
        headers = {}
        data = {"csrf_token": token}
        if case == "no_token":
            data = {"logout": "1"}
        elif case == "other_session":
            data = {"csrf_token": only_form(logged_in(other, photos)).fields["csrf_token"]}
        elif case == "foreign_origin":
            headers = {"Origin": "https://evil.example"}
        if case == "no_cookie":
            answer = httpx.post(f"{server.url}/logout", data=data)
        else:
            answer = browser.http.post("/logout", data=data, headers=headers)
        assert answer.status_code == 403
        assert "decision" in only_form(authorize(browser, photos)).buttons  # still logged in
