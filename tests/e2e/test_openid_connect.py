"""OpenID Connect end to end with a real relying party: Authlib's OIDC client (its Starlette
integration, which reads discovery, makes nonce and PKCE, and validates the id token against
the JWKS), real form posts at the login and consent pages (OpenID Connect Core 1.0)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from authlib.integrations.starlette_client import OAuth
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.e2e.browser import Browser, only_form, redirect_params
from tests.e2e.server import RunningServer, run_server

pytestmark = pytest.mark.anyio

REDIRECT = "https://rp.example/cb"
USER, PASSWORD = "alice", "correct horse battery staple"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with run_server(tmp_path_factory.mktemp("oidc")) as running:
        running.create_user(USER, PASSWORD)
        yield running


@pytest.fixture
def browser(server: RunningServer) -> Iterator[Browser]:
    with Browser(server.url) as b:
        yield b


def relying_party(server: RunningServer, scope: str = "openid photos.read") -> Any:
    """A registered client and Authlib's OIDC client for it, configured by discovery."""
    client, secret = server.create_client(
        "Photo Viewer", redirect_uris=[REDIRECT], scopes=["openid", "photos.read"]
    )
    oauth = OAuth()
    return oauth.register(
        "authgate",
        client_id=client.client_id,
        client_secret=secret,
        server_metadata_url=f"{server.url}/.well-known/openid-configuration",
        client_kwargs={"scope": scope, "code_challenge_method": "S256"},
    )


async def sign_in(rp, browser: Browser, **params) -> tuple[dict[str, Any], dict[str, str]]:
    """The browser part: the authorization URL, login if asked, consent if asked."""
    request = await rp.create_authorization_url(redirect_uri=REDIRECT, **params)
    page = browser.get(request["url"])
    if page.status_code == 200 and "password" in only_form(page).fields:
        page = browser.login(page, USER, PASSWORD)
    if page.status_code == 200:
        page = browser.decide(page, "approve_once")
    return request, redirect_params(page)


async def code_flow(rp, browser: Browser, **params) -> tuple[dict[str, Any], dict[str, Any]]:
    """Sign in and exchange the code: the token response and the request (nonce, verifier)."""
    request, answer = await sign_in(rp, browser, **params)
    assert answer["state"] == request["state"]
    token = await rp.fetch_access_token(
        redirect_uri=REDIRECT, code=answer["code"], code_verifier=request["code_verifier"]
    )
    return token, request


def decoded(server: RunningServer, value: str) -> jwt.Token:
    jwks = KeySet.import_key_set(httpx.get(f"{server.url}/oauth2/jwks").json())
    return jwt.decode(value, jwks, algorithms=["RS256", "ES256"])


async def test_code_flow_with_nonce_and_pkce_gives_a_valid_id_token(server, browser):
    rp = relying_party(server)
    before = int(time.time())
    token, request = await code_flow(rp, browser)
    assert "nonce=" in request["url"] and "code_challenge=" in request["url"]
    # Authlib checks the signature (JWKS), iss, aud, exp, iat, nonce and at_hash.
    claims = await rp.parse_id_token(token, nonce=request["nonce"])
    assert claims["sub"] == USER
    assert claims["aud"] == rp.client_id and claims["azp"] == rp.client_id
    assert claims["nonce"] == request["nonce"]
    assert before <= claims["auth_time"] <= claims["iat"] <= int(time.time())
    assert claims["exp"] == claims["iat"] + 3600
    assert {"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "azp"} <= set(
        claims
    )
    header = decoded(server, token["id_token"]).header
    assert header["alg"] == "RS256" and header["kid"]


async def test_no_id_token_without_openid(server, browser):
    rp = relying_party(server, scope="photos.read")
    token, _ = await code_flow(rp, browser)
    assert "id_token" not in token and token["scope"] == "photos.read"


async def test_refresh_gives_a_new_id_token_without_nonce_core_12_2(server, browser):
    rp = relying_party(server)
    token, request = await code_flow(rp, browser)
    first = await rp.parse_id_token(token, nonce=request["nonce"])
    refreshed = await rp.fetch_access_token(
        grant_type="refresh_token", refresh_token=token["refresh_token"]
    )
    assert refreshed["id_token"] != token["id_token"]
    claims = await rp.parse_id_token(refreshed, nonce=None)
    assert "nonce" not in claims
    assert claims["sub"] == first["sub"] and claims["auth_time"] == first["auth_time"]
    assert claims["aud"] == rp.client_id


async def test_the_nonce_survives_the_login_and_consent_pages(server, browser):
    rp = relying_party(server)
    token, request = await code_flow(rp, browser, nonce="n-" + "x" * 1000)
    claims = await rp.parse_id_token(token, nonce=request["nonce"])
    assert claims["nonce"] == "n-" + "x" * 1000


async def test_a_nonce_over_1024_characters_is_invalid_request(server, browser):
    rp = relying_party(server)
    request = await rp.create_authorization_url(redirect_uri=REDIRECT, nonce="x" * 1025)
    answer = redirect_params(browser.get(request["url"]))
    assert answer["error"] == "invalid_request" and answer["state"] == request["state"]


async def test_prompt_none_without_a_session_is_login_required(server, browser):
    rp = relying_party(server)
    request = await rp.create_authorization_url(redirect_uri=REDIRECT, prompt="none")
    answer = redirect_params(browser.get(request["url"]))
    assert answer["error"] == "login_required" and answer["state"] == request["state"]


async def test_prompt_none_without_consent_is_consent_required(server, browser):
    rp = relying_party(server)
    await code_flow(rp, browser)  # logged in, approved once only
    request = await rp.create_authorization_url(redirect_uri=REDIRECT, prompt="none")
    assert redirect_params(browser.get(request["url"]))["error"] == "consent_required"


async def test_prompt_none_with_session_and_remembered_consent_answers_at_once(server, browser):
    rp = relying_party(server)
    request, _ = await sign_in(rp, browser)  # approve once: login session only
    request = await rp.create_authorization_url(redirect_uri=REDIRECT)
    consent = browser.get(request["url"])
    answer = redirect_params(browser.decide(consent, "approve_always"))
    assert "code" in answer
    request = await rp.create_authorization_url(redirect_uri=REDIRECT, prompt="none")
    answer = redirect_params(browser.get(request["url"]))
    token = await rp.fetch_access_token(
        redirect_uri=REDIRECT, code=answer["code"], code_verifier=request["code_verifier"]
    )
    assert (await rp.parse_id_token(token, nonce=request["nonce"]))["sub"] == USER


async def test_prompt_login_shows_the_login_form_again(server, browser):
    rp = relying_party(server)
    token, request = await code_flow(rp, browser)
    first = await rp.parse_id_token(token, nonce=request["nonce"])
    time.sleep(1.1)  # auth_time has a resolution of one second
    request = await rp.create_authorization_url(redirect_uri=REDIRECT, prompt="login")
    page = browser.get(request["url"])
    assert "password" in only_form(page).fields
    consent = browser.login(page, USER, PASSWORD)
    answer = redirect_params(browser.decide(consent, "approve_once"))
    token = await rp.fetch_access_token(
        redirect_uri=REDIRECT, code=answer["code"], code_verifier=request["code_verifier"]
    )
    second = await rp.parse_id_token(token, nonce=request["nonce"])
    assert second["auth_time"] > first["auth_time"]


async def test_max_age_forces_a_fresh_login_only_when_the_login_is_older(server, browser):
    rp = relying_party(server)
    await code_flow(rp, browser)
    request = await rp.create_authorization_url(redirect_uri=REDIRECT, max_age="3600")
    assert "decision" in only_form(browser.get(request["url"])).buttons  # consent, no login
    time.sleep(1.1)
    request = await rp.create_authorization_url(redirect_uri=REDIRECT, max_age="1")
    assert "password" in only_form(browser.get(request["url"])).fields
    request = await rp.create_authorization_url(redirect_uri=REDIRECT, max_age="1", prompt="none")
    assert redirect_params(browser.get(request["url"]))["error"] == "login_required"


@pytest.mark.parametrize(
    "params",
    [{"prompt": "none login"}, {"prompt": "sometimes"}, {"max_age": "-1"}, {"max_age": "soon"}],
)
async def test_malformed_openid_parameters_are_invalid_request(server, browser, params):
    rp = relying_party(server)
    request = await rp.create_authorization_url(redirect_uri=REDIRECT, **params)
    assert redirect_params(browser.get(request["url"]))["error"] == "invalid_request"


# UserInfo (Core 1.0 section 5.3)


async def test_userinfo_get_and_post_with_the_access_token(server, browser):
    rp = relying_party(server)
    token, request = await code_flow(rp, browser)
    info = await rp.userinfo(token=token)  # Authlib: GET with the Bearer header
    assert info == {"sub": USER, "preferred_username": USER}
    claims = await rp.parse_id_token(token, nonce=request["nonce"])
    assert info["sub"] == claims["sub"]  # section 5.3.2: the same sub
    answer = httpx.post(
        f"{server.url}/oauth2/userinfo",
        headers={"Authorization": f"Bearer {token['access_token']}"},
    )
    assert answer.status_code == 200 and answer.json() == info
    assert answer.headers["cache-control"] == "no-store"


async def test_userinfo_without_a_token_is_401_with_a_challenge_rfc6750_3(server):
    for method in ("GET", "POST"):
        answer = httpx.request(method, f"{server.url}/oauth2/userinfo")
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"] == 'Bearer realm="authgate"'


async def test_userinfo_with_an_unknown_or_revoked_token_is_invalid_token(server, browser):
    rp = relying_party(server)
    token, _ = await code_flow(rp, browser)
    httpx.post(
        f"{server.url}/oauth2/revoke",
        data={"token": token["access_token"]},
        auth=(rp.client_id, rp.client_secret),
    ).raise_for_status()
    for value in (token["access_token"], "x" * 54):
        answer = httpx.get(
            f"{server.url}/oauth2/userinfo", headers={"Authorization": f"Bearer {value}"}
        )
        assert answer.status_code == 401 and answer.json()["error"] == "invalid_token"
        assert 'error="invalid_token"' in answer.headers["www-authenticate"]
        assert answer.headers["www-authenticate"].startswith('Bearer realm="authgate"')


async def test_userinfo_needs_the_openid_scope(server, browser):
    rp = relying_party(server, scope="photos.read")
    token, _ = await code_flow(rp, browser)
    answer = httpx.get(
        f"{server.url}/oauth2/userinfo",
        headers={"Authorization": f"Bearer {token['access_token']}"},
    )
    assert answer.status_code == 403 and answer.json()["error"] == "insufficient_scope"


# RP-Initiated Logout 1.0


def logged_in(browser: Browser, rp) -> bool:
    """Whether the browser's login session still skips the login form."""
    page = browser.authorize(
        response_type="code", client_id=rp.client_id, redirect_uri=REDIRECT, scope="openid"
    )
    return "password" not in only_form(page).fields


async def test_logout_ends_the_session_and_redirects_at_once_with_state(server, browser):
    rp = relying_party(server)
    token, _ = await code_flow(rp, browser)
    assert logged_in(browser, rp)
    logout = await rp.create_logout_url(
        post_logout_redirect_uri=REDIRECT, id_token_hint=token["id_token"], state="bye"
    )
    answer = browser.get(logout["url"])
    assert answer.status_code in (302, 303)
    assert answer.headers["location"] == f"{REDIRECT}?state=bye"
    assert not logged_in(browser, rp)


async def test_logout_without_a_redirect_uri_shows_a_page(server, browser):
    rp = relying_party(server)
    token, _ = await code_flow(rp, browser)
    answer = browser.get(f"/oauth2/logout?id_token_hint={token['id_token']}")
    assert answer.status_code == 200 and "location" not in answer.headers
    assert not logged_in(browser, rp)


@pytest.mark.parametrize(
    "uri", ["https://evil.example/cb", REDIRECT + "/more", REDIRECT + "?x=1", "rp.example/cb"]
)
async def test_logout_never_redirects_to_an_unregistered_uri(server, browser, uri):
    rp = relying_party(server)
    token, _ = await code_flow(rp, browser)
    answer = browser.http.get(
        "/oauth2/logout",
        params={"id_token_hint": token["id_token"], "post_logout_redirect_uri": uri},
    )
    assert answer.status_code == 400 and "location" not in answer.headers
    assert logged_in(browser, rp)  # nothing ended


async def test_logout_without_hint_or_with_another_clients_hint_is_refused(server, browser):
    rp = relying_party(server)
    other = relying_party(server)
    token, _ = await code_flow(rp, browser)
    answer = browser.http.get("/oauth2/logout", params={"post_logout_redirect_uri": REDIRECT})
    assert answer.status_code == 400 and "location" not in answer.headers
    answer = browser.http.get(
        "/oauth2/logout",
        params={"id_token_hint": token["id_token"], "client_id": other.client_id},
    )
    assert answer.status_code == 400
    assert logged_in(browser, rp)


async def test_a_hint_of_another_user_ends_nothing_in_this_browser(server, browser):
    server.create_user("mallory", PASSWORD)
    rp = relying_party(server)
    with Browser(server.url) as theirs:
        request = await rp.create_authorization_url(redirect_uri=REDIRECT)
        page = theirs.get(request["url"])
        page = theirs.submit(page, {"username": "mallory", "password": PASSWORD})
        answer = redirect_params(theirs.decide(page, "approve_once"))
        token = await rp.fetch_access_token(
            redirect_uri=REDIRECT, code=answer["code"], code_verifier=request["code_verifier"]
        )
    await code_flow(rp, browser)  # alice, in her browser
    browser.get(f"/oauth2/logout?id_token_hint={token['id_token']}")
    assert logged_in(browser, rp)


async def test_es256_id_tokens_validate_in_authlib(tmp_path):
    with run_server(tmp_path, {"oidc.signing_alg": "ES256"}) as es256:
        es256.create_user(USER, PASSWORD)
        rp = relying_party(es256)
        with Browser(es256.url) as browser:
            token, request = await code_flow(rp, browser)
        claims = await rp.parse_id_token(token, nonce=request["nonce"])
        assert claims["sub"] == USER
        assert decoded(es256, token["id_token"]).header["alg"] == "ES256"
