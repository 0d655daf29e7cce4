"""The web manager over real HTTP: administrator login, CSRF, headers, usage JSON, traffic pages."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.server import RunningServer, run_server
from tests.e2e.upstream import Upstream, bearer, flush, issue, routes

ADMIN, PASSWORD = "root", "correct horse battery staple"


@pytest.fixture(scope="module")
def manager(
    tmp_path_factory: pytest.TempPathFactory, upstream: Upstream
) -> Iterator[RunningServer]:
    with run_server(tmp_path_factory.mktemp("mgr"), {"gateway.routes": routes(upstream.url)}) as s:
        s.run(s.services.registry.create_admin(ADMIN, PASSWORD))
        yield s


def csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]*)"', html)
    assert match, html
    return match.group(1)


def login(browser: httpx.Client) -> None:
    page = browser.get("/manager/login")
    answer = browser.post(
        "/manager/login",
        data={"csrf_token": csrf(page.text), "username": ADMIN, "password": PASSWORD},
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/manager"


@pytest.fixture
def browser(manager: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=manager.url) as client:
        yield client


def test_pages_need_login(manager):
    for path in ("/manager", "/manager/traffic", "/manager/traffic/abc"):
        answer = httpx.get(manager.url + path)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/manager/login"
    assert httpx.get(manager.url + "/manager/api/usage").status_code == 401


def test_login_page_headers_and_cookie(manager):
    answer = httpx.get(manager.url + "/manager/login")
    assert answer.status_code == 200
    assert answer.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert answer.headers["referrer-policy"] == "no-referrer"
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/manager" in cookie
    assert '<form method="post"' in answer.text
    assert "<script>" not in answer.text


@pytest.mark.parametrize("case", ["no_token", "other_session", "foreign_origin", "no_cookie"])
def test_login_csrf_refused(manager, browser, case):
    token = csrf(browser.get("/manager/login").text)
    headers = {}
    if case == "no_token":
        token = ""
    elif case == "other_session":
        token = csrf(httpx.get(manager.url + "/manager/login").text)
    elif case == "foreign_origin":
        headers = {"Origin": "https://evil.example"}
    elif case == "no_cookie":
        browser.cookies.clear()
    answer = browser.post(
        "/manager/login",
        headers=headers,
        data={"csrf_token": token, "username": ADMIN, "password": PASSWORD},
    )
    assert answer.status_code == 403
    assert browser.get("/manager").status_code == 303


@pytest.mark.parametrize("site", ["cross-site", "Cross-Site", "CROSS-SITE", "same-site"])
def test_login_that_fetch_metadata_calls_cross_site_is_refused(manager, browser, site):
    token = csrf(browser.get("/manager/login").text)
    form = {"csrf_token": token, "username": ADMIN, "password": PASSWORD}
    answer = browser.post(
        "/manager/login", data=form, headers={"Sec-Fetch-Site": site, "Origin": manager.url}
    )
    assert answer.status_code == 403
    assert browser.get("/manager").status_code == 303
    answer = browser.post("/manager/login", data=form, headers={"Sec-Fetch-Site": "Same-Origin"})
    assert answer.status_code == 303
    assert browser.get("/manager").status_code == 200


def test_wrong_password_refused(browser):
    token = csrf(browser.get("/manager/login").text)
    answer = browser.post(
        "/manager/login", data={"csrf_token": token, "username": ADMIN, "password": "wrong"}
    )
    assert answer.status_code == 401
    assert "Wrong administrator name or password" in answer.text


def test_session_id_changes_at_login_and_logout_ends_it(manager, browser):
    page = browser.get("/manager/login")
    assert "authgate_manager" not in browser.cookies  # no session before the login
    before = browser.cookies["authgate_manager_login"]  # the signed CSRF token's cookie
    browser.post(
        "/manager/login",
        data={"csrf_token": csrf(page.text), "username": ADMIN, "password": PASSWORD},
    )
    after = browser.cookies["authgate_manager"]
    assert after != before
    dashboard = browser.get("/manager")
    assert dashboard.status_code == 200
    assert dashboard.headers["x-frame-options"] == "DENY"
    assert '<script src="/manager/static/manager.js"' in dashboard.text
    browser.post("/manager/logout", data={"csrf_token": csrf(dashboard.text)})
    with httpx.Client(base_url=manager.url, cookies={"authgate_manager": after}) as stale:
        assert stale.get("/manager").status_code == 303


def test_usage_json_and_traffic_pages(manager, browser, upstream):
    token = issue(manager, subject="ivy")
    httpx.get(f"{manager.url}/api/photos/9?x=1", headers=bearer(token))
    httpx.get(f"{manager.url}/api/videos", headers=bearer(token))
    flush(manager)
    login(browser)
    usage = browser.get("/manager/api/usage").json()
    assert usage["enabled"] is True
    photos = next(s for s in usage["services"] if s["service"] == "photos")
    assert photos["requests"] >= 1
    assert any(
        c["client"] == "ivy" and c["service"] == "videos" and c["failures"] == 1
        for c in usage["clients"]
    )
    page = browser.get("/manager/traffic", params={"client": "ivy", "status": "failed"})
    assert page.status_code == 200
    assert "/api/videos" in page.text and "/api/photos/9" not in page.text
    page = browser.get("/manager/traffic", params={"client": "ivy", "service": "photos"})
    link = re.search(r'href="/manager/traffic/([0-9a-f]{32})"', page.text)
    assert link is not None, page.text
    tx_id = link.group(1)
    detail = browser.get(f"/manager/traffic/{tx_id}")
    assert detail.status_code == 200
    assert upstream.url in detail.text
    assert "?x=1" not in detail.text
    assert browser.get("/manager/traffic/" + "0" * 32).status_code == 404
