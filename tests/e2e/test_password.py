"""The resource owner password credentials grant (RFC 6749 section 4.3), users and lockout."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from authlib.integrations.httpx_client import OAuth2Client

from authgate.flows.pkce import s256
from tests import policies
from tests.e2e.browser import Browser, only_form
from tests.e2e.oauth import (
    Introspector,
    assert_error,
    assert_tokens,
    concurrent_posts,
    endpoint,
    token_request,
)
from tests.e2e.server import RunningServer, run_server
from tests.slapd import PEOPLE, ROOT_DN, ROOT_PASSWORD, TWIN, TWIN_PASSWORD, WEIRD, start_slapd

GRANTS = ["password", "refresh_token"]
REDIRECT = "https://app.example/cb"


def password_client(server: RunningServer, scopes=("read", "write"), grants=GRANTS):
    client, secret = server.create_client("app", grant_types=list(grants), scopes=list(scopes))
    return client.client_id, secret


def password_grant(server, auth, username, password, scope=None):
    data = {"grant_type": "password", "username": username, "password": password}
    if scope is not None:
        data["scope"] = scope
    return token_request(server, data, auth)


def test_password_grant_with_authlib_issues_tokens_per_settings(server):
    server.create_user("alice", "alice-password")
    client_id, secret = password_client(server)
    with OAuth2Client(client_id, secret, scope="read") as oauth:
        token = oauth.fetch_token(
            endpoint(server, "token_endpoint"), username="alice", password="alice-password"
        )
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 3600
    assert token["scope"] == "read"
    assert len(token["access_token"]) == 54
    assert len(token["refresh_token"]) == 46
    assert "id_token" not in token
    answer = Introspector(server)(token["access_token"])
    assert answer["active"] is True
    assert answer["username"] == "alice"
    assert answer["sub"] == "alice"
    assert answer["client_id"] == client_id
    assert "password" in server.metadata()["grant_types_supported"]


def test_no_scope_gets_every_registered_scope(server):
    server.create_user("alice", "alice-password")
    auth = password_client(server)
    body = assert_tokens(password_grant(server, auth, "alice", "alice-password"))
    assert body["scope"] == "read write"


def test_wrong_password_and_unknown_user_are_invalid_grant(server):
    server.create_user("alice", "alice-password")
    auth = password_client(server)
    assert_error(password_grant(server, auth, "alice", "wrong"), "invalid_grant")
    assert_error(password_grant(server, auth, "nobody", "alice-password"), "invalid_grant")


def test_missing_credentials_are_invalid_request(server):
    auth = password_client(server)
    assert_error(
        token_request(server, {"grant_type": "password", "username": "alice"}, auth),
        "invalid_request",
    )
    assert_error(
        token_request(server, {"grant_type": "password", "password": "x"}, auth), "invalid_request"
    )


def test_repeated_password_parameter_is_invalid_request_rfc6749_3_1(server):
    auth = password_client(server)
    response = httpx.post(
        f"{server.url}/oauth2/token",
        auth=auth,
        content="grant_type=password&username=alice&password=a&password=b",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_error(response, "invalid_request")


def test_client_without_the_grant_is_unauthorized_client(server):
    server.create_user("alice", "alice-password")
    auth = password_client(server, grants=["authorization_code"])
    assert_error(password_grant(server, auth, "alice", "alice-password"), "unauthorized_client")


def test_public_client_may_use_the_password_grant(server):
    server.create_user("alice", "alice-password")
    client, _ = server.create_client(
        "spa", grant_types=["password"], scopes=["read"], is_public=True
    )
    body = assert_tokens(
        password_grant(server, (client.client_id, None), "alice", "alice-password")
    )
    assert "refresh_token" not in body  # the client may not use refresh_token


@pytest.mark.parametrize(
    ("rule", "scope", "outcome"),
    [
        ("any", "read unknown", "read"),
        ("any", "unknown", "invalid_scope"),
        ("all", "read write", "read write"),
        ("all", "read unknown", "invalid_scope"),
        ("all", None, "read write"),
    ],
)
def test_scopes_any_and_all(tmp_path, rule, scope, outcome):
    with run_server(tmp_path, {"flows.password.scopes": rule}) as server:
        server.create_user("alice", "alice-password")
        response = password_grant(server, password_client(server), "alice", "alice-password", scope)
        if outcome == "invalid_scope":
            assert_error(response, "invalid_scope")
        else:
            assert assert_tokens(response)["scope"] == outcome


def test_scopes_policy_decides_and_is_called_with_the_user(tmp_path):
    config = {
        "flows.password.scopes": "policy",
        "flows.password.scopes_policy": "tests.policies:scopes_for_user",
    }
    with run_server(tmp_path, config) as server:
        server.create_user("alice", "alice-password")
        server.create_user("carol", "carol-password")
        auth = password_client(server, scopes=["read"])  # the policy is not bound by these
        assert (
            assert_tokens(password_grant(server, auth, "alice", "alice-password"))["scope"]
            == "read write"
        )
        assert (
            assert_tokens(password_grant(server, auth, "carol", "carol-password"))["scope"]
            == "read"
        )
        assert_error(
            password_grant(server, auth, "alice", "alice-password", "none"), "invalid_scope"
        )


def test_scope_policy_that_raises_is_503(tmp_path):
    config = {
        "flows.password.scopes": "policy",
        "flows.password.scopes_policy": "tests.policies:broken",
    }
    with run_server(tmp_path, config) as server:
        server.create_user("alice", "alice-password")
        response = password_grant(server, password_client(server), "alice", "alice-password")
        assert_error(response, "temporarily_unavailable", 503)


def test_per_flow_token_settings(tmp_path):
    config = {
        "flows.password.tokens.refresh": "none",
        "flows.password.tokens.access_token_expiry": "77",
        "flows.password.tokens.access_token_length": "40",
        "flows.password.tokens.access_token_type": "Custom",
        "tokens.metadata": '{"Department": "Engineering"}',
    }
    with run_server(tmp_path, config) as server:
        server.create_user("alice", "alice-password")
        body = assert_tokens(
            password_grant(server, password_client(server), "alice", "alice-password")
        )
        assert body["expires_in"] == 77
        assert body["token_type"] == "Custom"
        assert len(body["access_token"]) == 40
        assert "refresh_token" not in body
        answer = Introspector(server)(body["access_token"])
        assert answer["metadata"] == {"Department": "Engineering"}
        assert answer["token_type"] == "Custom"


# users = "policy"


def test_user_policy_returns_the_subject(tmp_path):
    config = {"flows.password.users": "policy", "flows.password.policy": "tests.policies:user"}
    with run_server(tmp_path, config) as server:
        auth = password_client(server)
        body = assert_tokens(password_grant(server, auth, "alice", "alice-password"))
        answer = Introspector(server)(body["access_token"])
        assert answer["sub"] == "subject-of-alice"
        assert answer["username"] == "alice"
        assert_error(password_grant(server, auth, "alice", "wrong"), "invalid_grant")


def test_async_user_policy(tmp_path):
    config = {"flows.password.users": "policy", "flows.password.policy": "tests.policies:slow_user"}
    with run_server(tmp_path, config) as server:
        body = assert_tokens(password_grant(server, password_client(server), "bob", "bob-password"))
        assert Introspector(server)(body["access_token"])["sub"] == "subject-of-bob"


def test_subject_is_stored_under_subject_attribute(tmp_path):
    config = {
        "flows.password.users": "policy",
        "flows.password.policy": "tests.policies:user",
        "flows.password.subject_attribute": "custom.subject",
        "flows.password.scopes": "policy",
        "flows.password.scopes_policy": "tests.policies:scopes_from_subject",
    }
    with run_server(tmp_path, config) as server:
        body = assert_tokens(
            password_grant(server, password_client(server), "alice", "alice-password")
        )
        assert body["scope"] == "subject:subject-of-alice"


@pytest.mark.parametrize("policy", ["broken", "not_a_subject"])
def test_user_policy_that_fails_is_503_not_a_verdict(tmp_path, policy):
    config = {"flows.password.users": "policy", "flows.password.policy": f"tests.policies:{policy}"}
    with run_server(tmp_path, config) as server:
        response = password_grant(server, password_client(server), "alice", "alice-password")
        assert_error(response, "temporarily_unavailable", 503)


def test_user_policy_that_cannot_be_imported_stops_the_start_with_one_line(tmp_path):
    environ = dict(
        os.environ,
        AUTHGATE_STORAGE__URL=f"sqlite:///{tmp_path}/authgate.db",
        AUTHGATE_FLOWS__PASSWORD__USERS="policy",
        AUTHGATE_FLOWS__PASSWORD__POLICY="tests.nowhere:user",
    )
    result = subprocess.run(
        [sys.executable, "-m", "authgate.cli", "client", "list"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert result.stderr.count("\n") == 1
    assert "flows.password.policy" in result.stderr


# Lockout


def lockout_server(tmp_path: Path, **settings: str):
    config = {"lockout.max_failures": "3", "lockout.wait": "1"}
    config.update({f"lockout.{k}": v for k, v in settings.items()})
    return run_server(tmp_path, config)


def fail(server, auth, username="alice", times=1):
    for _ in range(times):
        assert_error(password_grant(server, auth, username, "wrong"), "invalid_grant")


def test_lock_answers_like_a_wrong_password_and_ends_after_wait(tmp_path):
    with lockout_server(tmp_path) as server:
        server.create_user("alice", "alice-password")
        auth = password_client(server)
        fail(server, auth, times=3)
        locked = password_grant(server, auth, "alice", "alice-password")
        wrong = password_grant(server, auth, "alice", "wrong")
        assert_error(locked, "invalid_grant")
        assert locked.json() == wrong.json()
        time.sleep(1.1)
        assert_tokens(password_grant(server, auth, "alice", "alice-password"))


def test_attempts_during_a_lock_are_not_checked_and_do_not_extend_it(tmp_path):
    config = {
        "flows.password.users": "policy",
        "flows.password.policy": "tests.policies:user",
        "lockout.max_failures": "2",
        "lockout.wait": "2",
    }
    with run_server(tmp_path, config) as server:
        policies.reset()
        auth = password_client(server)
        fail(server, auth, times=2)
        started = time.monotonic()
        assert policies.CALLS["user"] == 2
        for _ in range(5):
            fail(server, auth)
            time.sleep(0.2)
        assert policies.CALLS["user"] == 2  # refused without a password check
        time.sleep(max(0.0, 2.1 - (time.monotonic() - started)))
        assert_tokens(password_grant(server, auth, "alice", "alice-password"))


def test_each_further_lock_doubles_the_wait_up_to_max_wait(tmp_path):
    with lockout_server(tmp_path, max_wait="2") as server:
        server.create_user("alice", "alice-password")
        auth = password_client(server)
        fail(server, auth, times=3)  # first lock: 1 s
        time.sleep(1.1)
        fail(server, auth, times=3)  # second lock: 2 s
        time.sleep(1.2)
        assert_error(password_grant(server, auth, "alice", "alice-password"), "invalid_grant")
        time.sleep(1.0)
        fail(server, auth, times=3)  # third lock: 4 s, capped at max_wait = 2 s
        time.sleep(2.1)
        assert_tokens(password_grant(server, auth, "alice", "alice-password"))


def test_success_resets_the_count(tmp_path):
    with lockout_server(tmp_path) as server:
        server.create_user("alice", "alice-password")
        auth = password_client(server)
        fail(server, auth, times=2)
        assert_tokens(password_grant(server, auth, "alice", "alice-password"))
        fail(server, auth, times=2)
        assert_tokens(password_grant(server, auth, "alice", "alice-password"))


def test_count_is_forgotten_after_reset(tmp_path):
    with lockout_server(tmp_path, reset="1") as server:
        server.create_user("alice", "alice-password")
        auth = password_client(server)
        fail(server, auth, times=2)
        time.sleep(1.1)
        fail(server, auth, times=2)
        assert_tokens(password_grant(server, auth, "alice", "alice-password"))


def test_unknown_names_are_locked_too_and_names_are_counted_apart(tmp_path):
    with lockout_server(tmp_path, wait="60") as server:
        server.create_user("alice", "alice-password")
        auth = password_client(server)
        fail(server, auth, username="ghost", times=3)
        rows = server.run(_lockout_row(server, "ghost"))
        assert rows is not None and rows[0] > time.time() * 1000  # locked_until, in ms
        assert_tokens(password_grant(server, auth, "alice", "alice-password"))


async def _lockout_row(server, username):
    from sqlalchemy import select

    from authgate.db.schema import lockouts

    async with server.services.registry.transaction() as conn:
        row = (
            await conn.execute(
                select(lockouts.c.locked_until).where(lockouts.c.username == username)
            )
        ).first()
    return tuple(row) if row else None


def test_login_page_and_password_grant_share_one_count(tmp_path):
    with lockout_server(tmp_path, wait="600") as server:
        server.create_user("alice", "alice-password")
        auth = password_client(server)
        web, _ = server.create_client(
            "web", redirect_uris=[REDIRECT], scopes=["read"], is_public=True
        )
        challenge = s256("v" * 43)
        with Browser(server.url) as browser:
            page = browser.authorize(
                response_type="code",
                client_id=web.client_id,
                redirect_uri=REDIRECT,
                scope="read",
                state="s",
                code_challenge=challenge,
                code_challenge_method="S256",
            )
            for _ in range(2):
                page = browser.login(page, "alice", "wrong")
                assert "Incorrect username or password." in page.text
            fail(server, auth)  # the third failure in a row locks alice everywhere
            assert_error(password_grant(server, auth, "alice", "alice-password"), "invalid_grant")
            locked = browser.login(page, "alice", "alice-password")
            assert "Incorrect username or password." in locked.text
            assert "password" in only_form(locked).fields


def test_unlock_from_the_command_line(tmp_path):
    with lockout_server(tmp_path, wait="600") as server:
        server.create_user("alice", "alice-password")
        auth = password_client(server)
        fail(server, auth, times=3)
        assert_error(password_grant(server, auth, "alice", "alice-password"), "invalid_grant")
        environ = dict(os.environ, AUTHGATE_STORAGE__URL=f"sqlite:///{tmp_path}/authgate.db")
        result = subprocess.run(
            [sys.executable, "-m", "authgate.cli", "user", "unlock", "alice"],
            env=environ,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert_tokens(password_grant(server, auth, "alice", "alice-password"))


def test_100_concurrent_wrong_attempts_check_at_most_max_failures_passwords(tmp_path):
    config = {
        "flows.password.users": "policy",
        "flows.password.policy": "tests.policies:slow_user",
        "lockout.max_failures": "5",
        "lockout.wait": "600",
    }
    with run_server(tmp_path, config) as server:
        policies.reset()
        client_id, secret = password_client(server)
        data = {"grant_type": "password", "username": "alice", "password": "wrong"}
        responses = concurrent_posts(
            f"{server.url}/oauth2/token", [(data, (client_id, secret))] * 100
        )
        assert [r.status_code for r in responses] == [400] * 100
        assert {r.json()["error"] for r in responses} == {"invalid_grant"}
        assert 1 <= policies.CALLS["slow_user"] <= 5
        assert_error(
            password_grant(server, (client_id, secret), "alice", "alice-password"), "invalid_grant"
        )


# users = "ldap", against a real slapd


@pytest.fixture(scope="module")
def slapd(tmp_path_factory):
    with start_slapd(tmp_path_factory.mktemp("slapd")) as directory:
        yield directory


def ldap_config(slapd, **extra):
    config = {
        "flows.password.users": "ldap",
        "ldap.url": slapd.url,
        "ldap.user_base": PEOPLE,
        "ldap.timeout": "2",
    }
    config.update({f"ldap.{k}": v for k, v in extra.items()})
    return config


def test_ldap_users_log_in_and_the_subject_is_the_login_name(tmp_path, slapd):
    with run_server(tmp_path, ldap_config(slapd)) as server:
        auth = password_client(server)
        body = assert_tokens(password_grant(server, auth, "alice", "alice-password"))
        answer = Introspector(server)(body["access_token"])
        assert (answer["sub"], answer["username"]) == ("alice", "alice")
        weird = assert_tokens(password_grant(server, auth, WEIRD, "weird-password"))
        assert Introspector(server)(weird["access_token"])["username"] == WEIRD
        assert_error(password_grant(server, auth, "alice", "wrong"), "invalid_grant")
        assert_error(password_grant(server, auth, "nobody", "alice-password"), "invalid_grant")


def test_ldap_and_policy_calls_are_outbound_calls_in_the_traffic_log(tmp_path, slapd):
    from authgate.monitoring.traffic import TrafficFilter
    from tests.e2e.upstream import flush

    config = ldap_config(slapd) | {
        "flows.password.scopes": "policy",
        "flows.password.scopes_policy": "tests.policies:scopes_for_user",
    }
    with run_server(tmp_path, config) as server:
        auth = password_client(server)
        assert_tokens(password_grant(server, auth, "alice", "alice-password"))
        assert_error(password_grant(server, auth, "nobody", "alice-password"), "invalid_grant")
        flush(server)
        log = server._app.state.monitor.traffic
        rows = server.run(log.search(TrafficFilter(service="oauth2.token.password")))
        calls = {row["status"]: server.run(log.detail(row["tx_id"]))["outbound"] for row in rows}
        issued, refused = calls[200], calls[400]
        assert [(c["kind"], c["method"], c["target"]) for c in issued] == [
            ("ldap", "search", slapd.url),
            ("ldap", "bind", slapd.url),
            ("policy", "", "policy:tests.policies.scopes_for_user"),
        ]
        assert all(c["error"] is None and c["duration_ms"] > 0 for c in issued)
        assert [c["method"] for c in refused] == ["search"]  # nobody: no bind


@pytest.mark.parametrize("username", ["*)(uid=*", "*", "alice)(|(uid=*", "a*", TWIN])
def test_ldap_filter_injection_does_not_authenticate(tmp_path, slapd, username):
    with run_server(
        tmp_path, ldap_config(slapd, bind_dn=ROOT_DN, bind_password=ROOT_PASSWORD)
    ) as server:
        auth = password_client(server)
        for password in ("alice-password", TWIN_PASSWORD):
            assert_error(password_grant(server, auth, username, password), "invalid_grant")


def test_ldap_users_are_locked_the_same_way(tmp_path, slapd):
    config = ldap_config(slapd) | {"lockout.max_failures": "2", "lockout.wait": "600"}
    with run_server(tmp_path, config) as server:
        auth = password_client(server)
        fail(server, auth, username="bob", times=2)
        assert_error(password_grant(server, auth, "bob", "bob-password"), "invalid_grant")


def test_ldap_start_tls_refused_by_the_directory_is_503(tmp_path, slapd):
    with run_server(tmp_path, ldap_config(slapd, start_tls="true")) as server:
        response = password_grant(server, password_client(server), "alice", "alice-password")
        assert_error(response, "temporarily_unavailable", 503)


def test_ldap_directory_down_is_503_then_recovers(tmp_path):
    (tmp_path / "slapd").mkdir()
    with (
        start_slapd(tmp_path / "slapd") as directory,
        run_server(tmp_path, ldap_config(directory)) as server,
    ):
        auth = password_client(server)
        assert_tokens(password_grant(server, auth, "alice", "alice-password"))
        directory.stop()
        for password in ("alice-password", "wrong"):
            response = password_grant(server, auth, "alice", password)
            assert_error(response, "temporarily_unavailable", 503)
        directory.start()
        # The outage did not count as failures, and the pool reconnects.
        assert_tokens(password_grant(server, auth, "alice", "alice-password"))


def test_readyz_is_ready_when_the_directory_answers(tmp_path, slapd):
    with run_server(tmp_path, ldap_config(slapd)) as server:
        answer = httpx.get(f"{server.url}/readyz")
    assert (answer.status_code, answer.json()) == (200, {"status": "ready"})


def test_readyz_is_503_while_the_directory_is_down(tmp_path):
    (tmp_path / "slapd").mkdir()
    with (
        start_slapd(tmp_path / "slapd") as directory,
        run_server(tmp_path, ldap_config(directory)) as server,
    ):
        assert httpx.get(f"{server.url}/readyz").status_code == 200
        directory.stop()
        down = httpx.get(f"{server.url}/readyz")
        directory.start()
        up = httpx.get(f"{server.url}/readyz")
    assert down.status_code == 503
    assert down.json() == {
        "status": "unavailable",
        "error": "temporarily_unavailable",
        "error_description": "directory is unavailable",
    }
    assert (up.status_code, up.json()) == (200, {"status": "ready"})


def test_ldap_wrong_service_account_is_503(tmp_path, slapd):
    config = ldap_config(slapd, bind_dn=ROOT_DN, bind_password="not-the-password")
    with run_server(tmp_path, config) as server:
        response = password_grant(server, password_client(server), "alice", "alice-password")
        assert_error(response, "temporarily_unavailable", 503)
