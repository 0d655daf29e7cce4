"""The developer portal's pages over real HTTP: a developer's browser (httpx with cookies)
signs up, creates an application, generates and regenerates keys, runs Try it to a token,
and revokes an approval on /account; every form refuses a post without its CSRF token or
from another origin, and another developer finds nothing of the first."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.e2e.console import Console, csrf_of, text_of
from tests.e2e.server import RunningServer, run_server

PASSWORD = "a long developer password"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    config = {"portal.signup": "open", "portal.scopes": json.dumps(["photos.read", "openid"])}
    with run_server(tmp_path, config) as running:
        yield running


def sign_up(server: RunningServer, http: httpx.Client, username: str) -> Console:
    form = http.get("/portal/signup")
    assert form.status_code == 200
    answer = http.post(
        "/portal/signup",
        data={
            "csrf_token": csrf_of(form.text),
            "username": username,
            "password": PASSWORD,
            "password_again": PASSWORD,
        },
    )
    assert answer.status_code == 303, answer.text
    browser = Console(http)
    browser.get("/portal")
    return browser


@pytest.fixture
def developer(server: RunningServer) -> Iterator[Console]:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield sign_up(server, http, "dana")


def new_app(browser: Console, name: str = "Photo frame") -> str:
    answer = browser.post("/portal/applications", {"name": name, "description": "a frame"})
    assert answer.status_code == 303, answer.text
    match = re.match(r"/portal/applications/([A-Za-z0-9]+)\?", answer.headers["location"])
    assert match, answer.headers["location"]
    return match.group(1)


def generate(browser: Console, app_id: str, environment: str, callback: str) -> tuple[str, str]:
    """Generate keys from the keys tab; the consumer key and the secret shown once."""
    browser.get(f"/portal/applications/{app_id}/keys/{environment}")
    answer = browser.post(
        f"/portal/applications/{app_id}/keys/{environment}",
        {
            "redirect_uris": callback,
            "grant_types": ["authorization_code", "refresh_token"],
            "scopes": "photos.read openid",
        },
    )
    assert answer.status_code == 200, answer.text
    key = re.search(r'id="consumer-key">([^<]+)<', answer.text)
    secret = re.search(r'id="consumer-secret" class="secret">([^<]+)<', answer.text)
    assert key and secret, answer.text
    return key.group(1), secret.group(1)


def test_sign_in_and_sign_up_pages_store_nothing_and_sign_in_works(server: RunningServer):
    with httpx.Client(base_url=server.url) as http:
        assert (
            http.get("/portal", follow_redirects=False)
            .headers["location"]
            .startswith("/portal/login")
        )
        before = server.run(_session_count(server))
        assert http.get("/portal/login").status_code == 200
        assert http.get("/portal/signup").status_code == 200
        assert server.run(_session_count(server)) == before
    server.create_user("erin", PASSWORD)
    with httpx.Client(base_url=server.url) as http:
        form = http.get("/portal/login")
        wrong = http.post(
            "/portal/login",
            data={"csrf_token": csrf_of(form.text), "username": "erin", "password": "nope"},
        )
        assert wrong.status_code == 401
        assert "Wrong username or password" in wrong.text
        right = http.post(
            "/portal/login",
            data={"csrf_token": csrf_of(wrong.text), "username": "erin", "password": PASSWORD},
        )
        assert right.status_code == 303
        assert "erin" in text_of(http.get("/portal").text)


async def _session_count(server: RunningServer) -> int:
    from sqlalchemy import func, select

    from authgate.db.schema import sessions

    async with server.services.registry.transaction() as conn:
        return int((await conn.execute(select(func.count()).select_from(sessions))).scalar() or 0)


def test_sign_up_is_closed_by_default(tmp_path: Path):
    with run_server(tmp_path) as server, httpx.Client(base_url=server.url) as http:
        assert http.get("/portal/signup").status_code == 404
        assert "Create an account" not in http.get("/portal/login").text


def test_a_developer_creates_an_application_and_its_keys(developer: Console, server: RunningServer):
    app_id = new_app(developer)
    listing = text_of(developer.get("/portal").text)
    assert "Photo frame" in listing
    key, secret = generate(developer, app_id, "sandbox", "https://frame.example/cb")
    client = server.run(server.services.registry.get_client(key))
    assert (client.environment, client.app_id) == ("sandbox", app_id)
    tab = developer.get(f"/portal/applications/{app_id}/keys/sandbox").text
    assert key in tab and secret not in tab
    token = httpx.post(
        f"{server.url}/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(key, secret),
    )
    assert token.json()["error"] == "unauthorized_client"  # a real client, with its grants

    again = developer.post(
        f"/portal/applications/{app_id}/keys/sandbox/secret", {}
    )  # Regenerate secret
    fresh = re.search(r'id="consumer-secret" class="secret">([^<]+)<', again.text)
    assert fresh and fresh.group(1) != secret
    client = server.run(server.services.registry.get_client(key))
    from authgate.clients import ClientCredentials, verify_client
    from authgate.errors import OAuthError

    with pytest.raises(OAuthError):
        verify_client(client, ClientCredentials(key, secret, via_header=True))


def test_a_key_breaking_a_rule_shows_the_error_at_its_field(developer: Console):
    app_id = new_app(developer)
    developer.get(f"/portal/applications/{app_id}/keys/production")
    answer = developer.post(
        f"/portal/applications/{app_id}/keys/production",
        {"redirect_uris": "", "grant_types": ["authorization_code"], "scopes": "photos.read"},
    )
    assert answer.status_code == 422
    assert 'aria-invalid="true"' in answer.text
    reserved = developer.post(
        f"/portal/applications/{app_id}/keys/production",
        {"grant_types": ["client_credentials"], "scopes": "authgate:admin"},
    )
    assert reserved.status_code == 422
    assert "reserved" in reserved.text


def test_forms_refuse_a_missing_csrf_token_or_a_foreign_origin(
    developer: Console, server: RunningServer
):
    no_token = developer.http.post("/portal/applications", data={"name": "forged"})
    assert no_token.status_code == 403
    foreign = developer.post(
        "/portal/applications", {"name": "forged"}, Origin="https://evil.example"
    )
    assert foreign.status_code == 403
    cross_site = developer.post(
        "/portal/applications", {"name": "forged"}, **{"Sec-Fetch-Site": "cross-site"}
    )
    assert cross_site.status_code == 403
    assert "forged" not in developer.get("/portal").text


def test_another_developer_finds_nothing_of_the_first(developer: Console, server: RunningServer):
    app_id = new_app(developer)
    generate(developer, app_id, "sandbox", "https://frame.example/cb")
    with httpx.Client(base_url=server.url) as http:
        other = sign_up(server, http, "oscar")
        base = f"/portal/applications/{app_id}"
        for path in ("", "/keys/sandbox", "/keys/production", "/try", "/usage", "/delete"):
            assert other.get(base + path).status_code == 404, path
        for path in ("", "/keys/sandbox/secret", "/keys/sandbox/delete", "/delete"):
            assert other.post(base + path, {"name": "mine"}).status_code == 404, path
    assert "Photo frame" in developer.get(base).text


def test_try_it_runs_the_code_flow_and_account_revokes_the_approval(
    developer: Console, server: RunningServer
):
    app_id = new_app(developer)
    callback = f"{server.url}/portal/try/callback"
    key, secret = generate(developer, app_id, "sandbox", callback)
    developer.get(f"/portal/applications/{app_id}/try")
    wrong = developer.post(
        f"/portal/applications/{app_id}/try",
        {"scope": "photos.read", "redirect_uri": callback, "client_secret": "wrong"},
    )
    assert wrong.status_code == 422
    started = developer.post(
        f"/portal/applications/{app_id}/try",
        {"scope": "openid photos.read", "redirect_uri": callback, "client_secret": secret},
    )
    assert started.status_code == 303
    authorize = started.headers["location"]
    assert parse_qs(urlsplit(authorize).query)["client_id"] == [key]
    # Signed in already (the same session as the login page): the consent form comes next.
    consent = developer.http.get(authorize)
    assert consent.status_code == 200 and 'name="decision"' in consent.text
    request_id = re.search(r'name="request_id" value="([^"]+)"', consent.text)
    assert request_id
    approved = developer.http.post(
        "/oauth2/authorize",
        data={
            "csrf_token": csrf_of(consent.text),
            "request_id": request_id.group(1),
            "decision": "approve_always",
        },
    )
    assert approved.status_code == 303
    result = developer.http.get(approved.headers["location"])
    assert result.status_code == 200, result.text
    shown = re.search(r'id="token-response"[^>]*>([^<]+)<', result.text)
    assert shown
    token = json.loads(unescape(shown.group(1)))
    assert token["scope"] == "openid photos.read" and token["id_token"]
    assert "&#34;active&#34;: true" in result.text
    assert 'id="id-token"' in result.text
    again = developer.http.get(approved.headers["location"])
    assert again.status_code == 400  # the flow is used up

    account = developer.get("/account")
    assert "Photo frame (sandbox)" in account.text
    revoked = developer.post("/account/revoke", {"client_id": key})
    assert revoked.status_code == 303
    assert "Photo frame (sandbox)" not in developer.get("/account").text
    from authgate.tokens import digest

    assert server.run(server.services.tokens.get(digest(token["access_token"]))) is None


def test_the_demo_user_is_a_developer_with_sandbox_keys_ready_for_try_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    with run_server(tmp_path, demo=True) as server:
        printed = capsys.readouterr().out
        found = dict(
            re.findall(r"^\s+(password|sandbox key|sandbox secret):\s+(\S+)", printed, re.M)
        )
        assert set(found) == {"password", "sandbox key", "sandbox secret"}, printed
        owned = server.run(server.services.registry.applications.find("demo"))
        assert [app.name for app in owned] == ["Photo frame"]
        client = server.run(server.services.registry.get_client(found["sandbox key"]))
        assert client.environment == "sandbox"
        assert f"{server.url}/portal/try/callback" in client.redirect_uris
        token = httpx.post(
            f"{server.url}/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(found["sandbox key"], found["sandbox secret"]),
        )
        assert token.status_code == 400  # authenticated; the keys have no such grant
        with httpx.Client(base_url=server.url) as http:
            form = http.get("/portal/login")
            signed_in = http.post(
                "/portal/login",
                data={
                    "csrf_token": csrf_of(form.text),
                    "username": "demo",
                    "password": found["password"],
                },
            )
            assert signed_in.status_code == 303
            assert "Photo frame" in http.get("/portal").text


def test_sign_in_shares_the_login_pages_lockout_and_refuses_a_forged_form(tmp_path: Path):
    config = {"lockout.max_failures": "2", "lockout.wait": "300"}
    with run_server(tmp_path, config) as server, httpx.Client(base_url=server.url) as http:
        server.create_user("erin", PASSWORD)
        forged = http.post("/portal/login", data={"username": "erin", "password": PASSWORD})
        assert forged.status_code == 403  # no CSRF token: nothing checked, nobody signed in
        page = http.get("/portal/login")
        for _ in range(2):
            page = http.post(
                "/portal/login",
                data={"csrf_token": csrf_of(page.text), "username": "Erin", "password": "no"},
            )
            assert page.status_code == 401
        locked = http.post(
            "/portal/login",
            data={"csrf_token": csrf_of(page.text), "username": "erin", "password": PASSWORD},
        )
        assert locked.status_code == 401  # locked: the same answer as a wrong password
        assert "Wrong username or password" in locked.text
        assert server.run(server.services.lockout.is_locked("erin"))
        grant = httpx.post(
            f"{server.url}/oauth2/token",
            data={"grant_type": "password", "username": "erin", "password": PASSWORD},
            auth=_password_client(server),
        )
        assert grant.json()["error"] == "invalid_grant"  # the password grant sees the lock too


def _password_client(server: RunningServer) -> tuple[str, str]:
    client, secret = server.create_client("tool", grant_types=("password",))
    assert secret is not None
    return client.client_id, secret


def test_the_manager_lists_the_developers_applications(developer: Console, server: RunningServer):
    new_app(developer, "Listed app")
    server.run(server.services.registry.create_admin("ops", PASSWORD))
    from tests.e2e.console import console

    with console(server, "ops", PASSWORD) as manager:
        listed = text_of(manager.get("/manager/applications").text)
    assert "Listed app" in listed and "dana" in listed


def test_a_disabled_portal_has_no_pages_but_account_stays(tmp_path: Path):
    with run_server(tmp_path, {"portal.enabled": "false"}) as server:
        with httpx.Client(base_url=server.url) as http:
            assert http.get("/portal").status_code == 404
            assert http.get("/portal/login").status_code == 404
            assert http.get("/account").status_code == 401
