"""The authorization code grant end to end: real form posts in, Authlib's client at the token
endpoint (RFC 6749 section 4.1, RFC 7636, RFC 9207)."""

from __future__ import annotations

import secrets
import shutil
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from authlib.integrations.httpx_client import OAuth2Client, OAuthError

from tests.e2e.browser import Browser, only_form, redirect_params
from tests.e2e.server import RunningServer, run_server

REDIRECT = "https://photos.example/cb"
USER, PASSWORD = "alice", "correct horse battery staple"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One authgate for the module: every test registers its own clients."""
    with run_server(tmp_path_factory.mktemp("authcode")) as running:
        running.create_user(USER, PASSWORD)
        yield running


@pytest.fixture
def browser(server: RunningServer) -> Iterator[Browser]:
    with Browser(server.url) as b:
        yield b


def confidential(server: RunningServer, **options):
    options = {
        "redirect_uris": [REDIRECT],
        "scopes": ["photos.read", "photos.write"],
        "can_introspect": True,
    } | options
    return server.create_client("Photo Importer", **options)


def oauth(server: RunningServer, client, secret, **options) -> OAuth2Client:
    auth_method = "none" if secret is None else "client_secret_basic"
    return OAuth2Client(
        client.client_id,
        secret,
        token_endpoint_auth_method=auth_method,
        code_challenge_method="S256",
        redirect_uri=REDIRECT,
        **options,
    )


def verifier() -> str:
    return secrets.token_urlsafe(48)


def token_url(server: RunningServer) -> str:
    return f"{server.url}/oauth2/token"


def start(server, browser: Browser, oauth_client, code_verifier, **params) -> httpx.Response:
    url, _ = oauth_client.create_authorization_url(
        f"{server.url}/oauth2/authorize", code_verifier=code_verifier, **params
    )
    return browser.get(url)


def get_code(
    server,
    browser,
    oauth_client,
    code_verifier,
    *,
    scope="photos.read",
    decision="approve_once",
    state="s-1",
) -> str:
    page = start(server, browser, oauth_client, code_verifier, scope=scope, state=state)
    if "password" in only_form(page).fields:
        page = browser.login(page, USER, PASSWORD)
    answer = browser.decide(page, decision)
    params = redirect_params(answer)
    assert answer.headers["location"].startswith(REDIRECT + "?")
    assert params["state"] == state
    assert params["iss"] == server.metadata()["issuer"]
    return params["code"]


def introspect(server, client, secret, token) -> dict[str, Any]:
    answer = httpx.post(
        f"{server.url}/oauth2/introspect", data={"token": token}, auth=(client.client_id, secret)
    )
    assert answer.status_code == 200
    body: dict[str, Any] = answer.json()
    return body


def token_error(oauth_client, server, **kwargs) -> str:
    with pytest.raises(OAuthError) as caught:
        oauth_client.fetch_token(token_url(server), **kwargs)
    error: str = caught.value.error
    return error


def assert_error_page(answer: httpx.Response) -> None:
    assert 400 <= answer.status_code < 500
    assert "location" not in answer.headers
    assert answer.headers["content-type"].startswith("text/html")


# The whole flow


def test_full_flow_login_consent_token_introspect(server, browser):
    client, secret = confidential(server)
    code_verifier = verifier()
    with oauth(server, client, secret) as oc:
        page = start(
            server, browser, oc, code_verifier, scope="photos.read photos.write", state="xyz"
        )
        assert page.status_code == 200
        login = only_form(page)
        assert login.action == "/oauth2/authorize"
        assert {"username", "password", "csrf_token", "request_id"} <= set(login.fields)
        assert 'for="username"' in page.text and 'for="password"' in page.text

        consent = browser.login(page, USER, PASSWORD)
        assert consent.status_code == 200
        assert "Photo Importer" in consent.text
        assert "photos.read" in consent.text and "photos.write" in consent.text
        assert only_form(consent).buttons["decision"] == ["approve_once", "approve_always", "deny"]

        answer = browser.decide(consent, "approve_once")
        params = redirect_params(answer)
        assert set(params) == {"code", "state", "iss"}
        assert params["state"] == "xyz"
        code = params["code"]
        assert len(code) == 30 and code.isalnum()

        token = oc.fetch_token(token_url(server), code=code, code_verifier=code_verifier)
    assert token["token_type"] == "Bearer"
    assert token["scope"] == "photos.read photos.write"
    assert "refresh_token" in token
    body = introspect(server, client, secret, token["access_token"])
    assert body["active"] is True
    assert body["client_id"] == client.client_id
    assert body["username"] == USER and body["sub"] == USER
    assert body["scope"] == "photos.read photos.write"


def test_public_client_with_one_redirect_uri_may_omit_it(server, browser):
    client, _ = server.create_client(
        "Mobile", redirect_uris=[REDIRECT], scopes=["photos.read"], is_public=True
    )
    code_verifier = verifier()
    with OAuth2Client(
        client.client_id, None, token_endpoint_auth_method="none", code_challenge_method="S256"
    ) as oc:
        page = start(server, browser, oc, code_verifier, state="p")
        assert "redirect_uri" not in str(page.request.url)
        consent = browser.login(page, USER, PASSWORD)
        code = redirect_params(browser.decide(consent, "approve_once"))["code"]
        token = oc.fetch_token(token_url(server), code=code, code_verifier=code_verifier)
    assert token["scope"] == "photos.read"  # no scope asked: every registered scope


def test_iss_is_exactly_the_issuer_rfc9207(server, browser):
    client, secret = confidential(server)
    issuer = server.metadata()["issuer"]
    assert issuer == server.settings.effective_issuer()
    with oauth(server, client, secret) as oc:
        get_code(server, browser, oc, verifier())  # asserts iss on success
        answer = start(server, browser, oc, verifier(), scope="nope", state="e")
    assert redirect_params(answer)["iss"] == issuer


# RFC 6749 section 4.1.2.1: errors before the redirect URI is trusted are pages


def test_unknown_client_is_an_error_page_rfc6749_4_1_2_1(server, browser):
    answer = browser.authorize(
        response_type="code", client_id="nobody", redirect_uri=REDIRECT, state="s"
    )
    assert_error_page(answer)


def test_unregistered_redirect_uri_is_an_error_page_rfc6749_4_1_2_1(server, browser):
    client, _ = confidential(server)
    for uri in (
        "https://evil.example/cb",
        REDIRECT + "/more",
        REDIRECT + "?x=1",
        "https://photos.example/",
    ):
        answer = browser.authorize(
            response_type="code", client_id=client.client_id, redirect_uri=uri, state="s"
        )
        assert_error_page(answer)


def test_omitted_redirect_uri_with_two_registered_is_an_error_page(server, browser):
    client, _ = confidential(server, redirect_uris=[REDIRECT, "https://photos.example/cb2"])
    assert_error_page(browser.authorize(response_type="code", client_id=client.client_id))


def test_repeated_client_id_or_redirect_uri_is_an_error_page_rfc6749_3_1(server, browser):
    client, _ = confidential(server)
    answer = browser.get(
        f"/oauth2/authorize?response_type=code&client_id={client.client_id}"
        f"&client_id={client.client_id}&redirect_uri={REDIRECT}"
    )
    assert_error_page(answer)
    answer = browser.get(
        f"/oauth2/authorize?response_type=code&client_id={client.client_id}"
        f"&redirect_uri={REDIRECT}&redirect_uri={REDIRECT}"
    )
    assert_error_page(answer)


# RFC 6749 section 4.1.2.1: every other error redirects with error, state and iss


def authorize_error(server, browser, client, **params) -> dict[str, str]:
    query = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": REDIRECT,
        "state": "st8",
    } | params
    answer = browser.authorize(**query)
    assert answer.status_code == 302, answer.text
    assert answer.headers["location"].startswith(REDIRECT + "?")
    found = redirect_params(answer)
    assert found["state"] == "st8"
    assert found["iss"] == server.settings.effective_issuer()
    assert found["error_description"]
    assert "code" not in found
    return found


def test_unsupported_response_type_rfc6749_4_1_2_1(server, browser):
    client, _ = confidential(server)
    found = authorize_error(server, browser, client, response_type="token")
    assert found["error"] == "unsupported_response_type"


def test_missing_response_type_is_invalid_request(server, browser):
    client, _ = confidential(server)
    assert authorize_error(server, browser, client, response_type="")["error"] == (
        "invalid_request"
    )


def test_invalid_scope_rfc6749_4_1_2_1(server, browser):
    client, _ = confidential(server)
    assert authorize_error(server, browser, client, scope="admin")["error"] == "invalid_scope"


def test_unauthorized_client_rfc6749_4_1_2_1(server, browser):
    client, _ = confidential(server, grant_types=["client_credentials"])
    assert authorize_error(server, browser, client)["error"] == "unauthorized_client"


def test_public_client_without_pkce_is_invalid_request_rfc7636_4_4_1(server, browser):
    client, _ = server.create_client("Mobile", redirect_uris=[REDIRECT], is_public=True)
    assert authorize_error(server, browser, client)["error"] == "invalid_request"


@pytest.mark.parametrize(
    "pkce",
    [
        {"code_challenge": "a" * 43, "code_challenge_method": "plain"},
        {"code_challenge": "a" * 43},  # no method means plain (RFC 7636 section 4.3)
        {"code_challenge_method": "S256"},
        {"code_challenge": "short", "code_challenge_method": "S256"},
    ],
    ids=["plain", "method-omitted", "challenge-omitted", "malformed"],
)
def test_pkce_plain_and_malformed_are_refused_rfc7636_4_4_1(server, browser, pkce):
    client, _ = server.create_client("Mobile", redirect_uris=[REDIRECT], is_public=True)
    assert authorize_error(server, browser, client, **pkce)["error"] == "invalid_request"


def test_repeated_parameter_is_invalid_request_rfc6749_3_1(server, browser):
    client, _ = confidential(server)
    answer = browser.get(
        f"/oauth2/authorize?response_type=code&client_id={client.client_id}"
        f"&redirect_uri={REDIRECT}&scope=photos.read&scope=photos.write&state=r"
    )
    found = redirect_params(answer)
    assert found["error"] == "invalid_request"
    assert found["iss"] == server.settings.effective_issuer()


def test_deny_redirects_with_access_denied_rfc6749_4_1_2_1(server, browser):
    client, secret = confidential(server)
    with oauth(server, client, secret) as oc:
        page = start(server, browser, oc, verifier(), scope="photos.read", state="d")
    answer = browser.decide(browser.login(page, USER, PASSWORD), "deny")
    assert answer.status_code == 303
    found = redirect_params(answer)
    assert found["error"] == "access_denied"
    assert found["state"] == "d"
    assert found["iss"] == server.settings.effective_issuer()
    assert "code" not in found


def test_pkce_always_requires_a_challenge_from_confidential_clients(tmp_path):
    with run_server(tmp_path, {"authorization_code.pkce": "always"}) as srv, Browser(srv.url) as b:
        client, _ = confidential(srv)
        assert authorize_error(srv, b, client)["error"] == "invalid_request"


# RFC 6749 section 5.2 at the token endpoint


def test_code_reuse_is_invalid_grant_and_revokes_the_first_tokens_rfc6749_4_1_2(server, browser):
    client, secret = confidential(server)
    code_verifier = verifier()
    with oauth(server, client, secret) as oc:
        code = get_code(server, browser, oc, code_verifier)
        token = oc.fetch_token(token_url(server), code=code, code_verifier=code_verifier)
        assert introspect(server, client, secret, token["access_token"])["active"] is True
        error = token_error(oc, server, code=code, code_verifier=code_verifier)
    assert error == "invalid_grant"
    assert introspect(server, client, secret, token["access_token"]) == {"active": False}
    assert introspect(server, client, secret, token["refresh_token"]) == {"active": False}


def test_wrong_redirect_uri_at_token_endpoint_rfc6749_4_1_3(server, browser):
    other = "https://photos.example/other"
    client, secret = confidential(server, redirect_uris=[REDIRECT, other])
    code_verifier = verifier()
    with oauth(server, client, secret) as oc:
        code = get_code(server, browser, oc, code_verifier)
        error = token_error(oc, server, code=code, code_verifier=code_verifier, redirect_uri=other)
    assert error == "invalid_grant"


def test_wrong_code_verifier_rfc7636_4_6(server, browser):
    client, secret = confidential(server)
    with oauth(server, client, secret) as oc:
        code = get_code(server, browser, oc, verifier())
        assert token_error(oc, server, code=code, code_verifier=verifier()) == "invalid_grant"


def test_code_of_another_client_rfc6749_4_1_3(server, browser):
    client, secret = confidential(server)
    thief, thief_secret = confidential(server)
    code_verifier = verifier()
    with oauth(server, client, secret) as oc:
        code = get_code(server, browser, oc, code_verifier)
    with oauth(server, thief, thief_secret) as other:
        error = token_error(other, server, code=code, code_verifier=code_verifier)
    assert error == "invalid_grant"


def test_expired_code_rfc6749_4_1_2(tmp_path):
    with (
        run_server(tmp_path, {"authorization_code.code_expiry": "1"}) as srv,
        Browser(srv.url) as b,
    ):
        srv.create_user(USER, PASSWORD)
        client, secret = confidential(srv)
        code_verifier = verifier()
        with oauth(srv, client, secret) as oc:
            code = get_code(srv, b, oc, code_verifier)
            time.sleep(2.1)
            assert token_error(oc, srv, code=code, code_verifier=code_verifier) == ("invalid_grant")


# Login session, Approve Always, and the login form


def test_login_session_skips_the_login_form_the_second_time(server, browser):
    client, secret = confidential(server)
    with oauth(server, client, secret) as oc:
        get_code(server, browser, oc, verifier())
        page = start(server, browser, oc, verifier(), scope="photos.read", state="again")
    form = only_form(page)
    assert "password" not in form.fields
    assert "decision" in form.buttons  # straight to consent
    assert redirect_params(browser.decide(page, "approve_once"))["code"]


def test_approve_always_skips_consent_for_the_same_or_a_smaller_scope_set(server, browser):
    client, secret = confidential(server)
    code_verifier = verifier()
    with oauth(server, client, secret) as oc:
        get_code(
            server,
            browser,
            oc,
            verifier(),
            scope="photos.read photos.write",
            decision="approve_always",
        )
        for scope in ("photos.read photos.write", "photos.write"):
            answer = start(server, browser, oc, code_verifier, scope=scope, state="quick")
            assert answer.status_code == 302, answer.text
            params = redirect_params(answer)
            assert params["state"] == "quick"
            assert params["iss"] == server.settings.effective_issuer()
        token = oc.fetch_token(token_url(server), code=params["code"], code_verifier=code_verifier)
    assert token["scope"] == "photos.write"


def test_approve_always_does_not_cover_a_wider_scope_set(server, browser):
    client, secret = confidential(server)
    with oauth(server, client, secret) as oc:
        get_code(server, browser, oc, verifier(), scope="photos.read", decision="approve_always")
        page = start(server, browser, oc, verifier(), scope="photos.read photos.write")
    assert page.status_code == 200
    assert "decision" in only_form(page).buttons


@pytest.mark.parametrize("username,password", [(USER, "wrong"), ("nobody", PASSWORD)])
def test_failed_login_shows_the_form_again_with_one_message(server, browser, username, password):
    client, secret = confidential(server)
    with oauth(server, client, secret) as oc:
        page = start(server, browser, oc, verifier(), scope="photos.read")
    before = browser.session_cookie
    again = browser.login(page, username, password)
    assert again.status_code == 200
    assert "Incorrect username or password." in again.text
    assert "password" in only_form(again).fields
    assert "location" not in again.headers
    assert browser.session_cookie == before  # not logged in, nothing rotated
    assert "password" in only_form(browser.login(again, USER, "still wrong")).fields


def test_session_id_changes_at_login(server, browser):
    client, secret = confidential(server)
    with oauth(server, client, secret) as oc:
        page = start(server, browser, oc, verifier(), scope="photos.read")
        before = browser.session_cookie
        assert before
        browser.login(page, USER, PASSWORD)
        after = browser.session_cookie
        assert after and after != before
        # The pre-login id is dead: a browser holding it must log in again.
        with Browser(server.url) as fixated:
            fixated.http.cookies.set("authgate_session", before)
            page = start(server, fixated, oc, verifier(), scope="photos.read")
            assert "password" in only_form(page).fields


# CSRF: refused and changing nothing


def logged_out_login_page(server, browser):
    client, secret = confidential(server)
    with oauth(server, client, secret) as oc:
        return start(server, browser, oc, verifier(), scope="photos.read"), client, secret


def assert_refused(answer: httpx.Response) -> None:
    assert answer.status_code == 403
    assert "location" not in answer.headers
    assert answer.headers["x-frame-options"] == "DENY"


def test_login_post_without_csrf_token_is_refused(server, browser):
    page, _, _ = logged_out_login_page(server, browser)
    before = browser.session_cookie
    assert_refused(browser.submit(page, {"username": USER, "password": PASSWORD, "csrf_token": ""}))
    assert browser.session_cookie == before
    # Nothing changed: the same form still asks for a login and still works.
    assert "Photo Importer" in browser.login(page, USER, PASSWORD).text


def test_post_with_another_sessions_csrf_token_is_refused(server, browser):
    page, _, _ = logged_out_login_page(server, browser)
    with Browser(server.url) as attacker:
        attacker_page, _, _ = logged_out_login_page(server, attacker)
        attacker_token = only_form(attacker_page).fields["csrf_token"]
    assert_refused(
        browser.submit(page, {"username": USER, "password": PASSWORD, "csrf_token": attacker_token})
    )


def test_post_from_a_foreign_origin_is_refused(server, browser):
    page, _, _ = logged_out_login_page(server, browser)
    assert_refused(
        browser.submit(
            page,
            {"username": USER, "password": PASSWORD},
            headers={"Origin": "https://evil.example"},
        )
    )
    # Browsers send `Origin: null` under Referrer-Policy no-referrer; Fetch Metadata tells.
    assert_refused(
        browser.submit(
            page,
            {"username": USER, "password": PASSWORD},
            headers={"Origin": "null", "Sec-Fetch-Site": "cross-site"},
        )
    )
    assert_refused(
        browser.submit(
            page, {"username": USER, "password": PASSWORD}, headers={"Sec-Fetch-Site": "same-site"}
        )
    )
    assert browser.login(page, USER, PASSWORD).status_code == 200


@pytest.mark.parametrize("site", ["cross-site", "Cross-Site", "CROSS-SITE", "same-site"])
def test_consent_post_that_fetch_metadata_calls_cross_site_is_refused(server, browser, site):
    page, _, _ = logged_out_login_page(server, browser)
    consent = browser.login(page, USER, PASSWORD)
    # Refused whatever the case, even with an Origin that would pass: the browser knows best.
    assert_refused(
        browser.submit(consent, {"decision": "approve_always"}, headers={"Sec-Fetch-Site": site})
    )
    assert redirect_params(
        browser.submit(
            consent, {"decision": "approve_once"}, headers={"Sec-Fetch-Site": "Same-Origin"}
        )
    )["code"]


def test_consent_post_without_csrf_token_issues_no_code(server, browser):
    page, _, _ = logged_out_login_page(server, browser)
    consent = browser.login(page, USER, PASSWORD)
    assert_refused(browser.submit(consent, {"decision": "approve_always", "csrf_token": ""}))
    assert redirect_params(browser.decide(consent, "approve_once"))["code"]


# Headers, cookies and the database


def test_pages_cannot_be_framed_and_leak_no_referrer(server, browser):
    client, secret = confidential(server)
    with oauth(server, client, secret) as oc:
        login = start(server, browser, oc, verifier(), scope="photos.read")
    consent = browser.login(login, USER, PASSWORD)
    error = browser.authorize(response_type="code", client_id="nobody")
    for page in (login, consent, error):
        assert page.headers["x-frame-options"] == "DENY"
        csp = page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
        assert "unsafe-inline" not in csp
        assert page.headers["referrer-policy"] == "no-referrer"
        assert "no-store" in page.headers["cache-control"]
        assert "<script" not in page.text
    cookie = login.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()
    assert "Path=/" in cookie
    assert "Secure" not in cookie  # the issuer is http here


def test_cookie_is_secure_when_the_issuer_is_https(tmp_path):
    config = tmp_path / "authgate.toml"
    config.write_text('issuer = "https://login.example"\n')  # AUTHGATE_CONFIG
    with run_server(tmp_path, {"config": str(config)}) as srv, Browser(srv.url) as b:
        assert srv.settings.effective_issuer() == "https://login.example"
        client, _ = confidential(srv)
        page = b.authorize(
            response_type="code",
            client_id=client.client_id,
            redirect_uri=REDIRECT,
            scope="photos.read",
        )
        cookie = page.headers["set-cookie"]
        assert cookie.startswith("__Host-")  # https, Path=/ and no Domain, by name
        assert "Secure" in cookie and "HttpOnly" in cookie and "Path=/" in cookie


def test_database_copy_holds_no_token_code_or_secret(tmp_path):
    with run_server(tmp_path) as srv, Browser(srv.url) as b:
        srv.create_user(USER, PASSWORD)
        client, secret = confidential(srv)
        code_verifier = verifier()
        with oauth(srv, client, secret) as oc:
            code = get_code(srv, b, oc, code_verifier, decision="approve_always")
            token = oc.fetch_token(token_url(srv), code=code, code_verifier=code_verifier)
        session_cookie = b.session_cookie
        copy = tmp_path / "copy"
        copy.mkdir()
        for path in tmp_path.glob("authgate.db*"):
            shutil.copyfile(path, copy / path.name)
    data = b"".join(p.read_bytes() for p in copy.iterdir())
    assert data  # the copy holds the registry and the stores
    for value in (
        token["access_token"],
        token["refresh_token"],
        code,
        secret,
        PASSWORD,
        session_cookie,
    ):
        assert value and value.encode() not in data, value


def test_events_name_the_steps_and_hold_no_secret(server, browser):
    seen: list[tuple[str, dict[str, Any]]] = []
    server.services.events.subscribe(lambda name, fields: seen.append((name, dict(fields))))
    client, secret = confidential(server)
    code_verifier = verifier()
    with oauth(server, client, secret) as oc:
        page = start(server, browser, oc, code_verifier, scope="photos.read", state="ev")
        page = browser.login(page, USER, "not the password")
        consent = browser.login(page, USER, PASSWORD)
        code = redirect_params(browser.decide(consent, "approve_once"))["code"]
        token = oc.fetch_token(token_url(server), code=code, code_verifier=code_verifier)
    names = [name for name, fields in seen if fields.get("client_id") == client.client_id]
    for expected in ("login.failed", "login.succeeded", "consent.granted", "code.issued"):
        assert expected in names
    dumped = repr(seen)
    for value in (
        PASSWORD,
        "not the password",
        code,
        token["access_token"],
        secret,
        browser.session_cookie,
    ):
        assert value not in dumped


@pytest.mark.parametrize(
    "method,path,body,headers",
    [
        ("GET", "/oauth2/authorize", None, {}),
        ("GET", "/oauth2/authorize?client_id=%ff%fe&response_type=code", None, {}),
        ("GET", "/oauth2/authorize?client_id=" + "x" * 5000, None, {}),
        ("POST", "/oauth2/authorize", b'{"username": "a"}', {"Content-Type": "application/json"}),
        ("POST", "/oauth2/authorize", b"username=a&password=b", {}),
        (
            "POST",
            "/oauth2/authorize",
            b"csrf_token=x&request_id=y&decision=approve_once",
            {"Content-Type": "application/x-www-form-urlencoded"},
        ),
    ],
    ids=["empty", "bad-utf8", "long-client-id", "json-body", "no-content-type", "no-session"],
)
def test_malformed_requests_get_a_4xx_page(server, method, path, body, headers):
    answer = httpx.request(method, server.url + path, content=body, headers=headers)
    assert 400 <= answer.status_code < 500
    assert "location" not in answer.headers
    assert answer.headers["x-frame-options"] == "DENY"


def test_stale_request_id_and_bad_decision_are_refused(server, browser):
    page, _, _ = logged_out_login_page(server, browser)
    answer = browser.submit(page, {"request_id": "gone", "username": USER, "password": PASSWORD})
    assert answer.status_code == 400 and "location" not in answer.headers
    consent = browser.login(page, USER, PASSWORD)
    answer = browser.submit(consent, {"decision": "approve_forever"})
    assert answer.status_code == 400 and "location" not in answer.headers
    assert redirect_params(browser.decide(consent, "approve_once"))["code"]
