"""The manager's administrator login under the lockout rules of users (SPEC.md, "Hardening")."""

from __future__ import annotations

import httpx
import pytest

from authgate.passwords import verify_password
from tests.e2e.oauth import assert_tokens, token_request
from tests.e2e.server import run_server
from tests.e2e.test_manager import csrf

ADMIN, PASSWORD = "root", "correct horse battery staple"
MAX_FAILURES = 3


@pytest.fixture
def argon2_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every administrator password check the server makes (the server runs in this process)."""
    checks: list[str] = []

    async def counted(password: str, password_hash: str | None) -> bool:
        checks.append(password)
        return await verify_password(password, password_hash)

    monkeypatch.setattr("authgate.registry.verify_password", counted)
    return checks


def manager_login(server, username: str, password: str) -> httpx.Response:
    with httpx.Client(base_url=server.url) as browser:
        token = csrf(browser.get("/manager/login").text)
        return browser.post(
            "/manager/login",
            data={"csrf_token": token, "username": username, "password": password},
        )


def test_a_locked_administrator_is_refused_without_a_password_check(tmp_path, argon2_checks):
    """Finding 5: 25 wrong passwords, then the right one worked, each costing an argon2 hash."""
    config = {"lockout.max_failures": str(MAX_FAILURES), "lockout.wait": "600"}
    with run_server(tmp_path, config) as server:
        server.run(server.services.registry.create_admin(ADMIN, PASSWORD))
        assert manager_login(server, ADMIN, PASSWORD).status_code == 303
        for name in ("root", "ROOT", " root"):  # one counter for every spelling
            wrong = manager_login(server, name, "wrong")
            assert wrong.status_code == 401
        checked = len(argon2_checks)
        for name in (ADMIN, "Root"):
            locked = manager_login(server, name, PASSWORD)
            assert locked.status_code == 401  # the answer to a wrong password
            assert "Wrong administrator name or password." in locked.text
        assert len(argon2_checks) == checked  # refused while locked, no hash computed

        # A user of the same name is counted apart, and locks no administrator.
        server.create_user(ADMIN, "user-password")
        client, secret = server.create_client("app", grant_types=["password"], scopes=["read"])
        data = {"grant_type": "password", "username": ADMIN, "password": "user-password"}
        assert_tokens(token_request(server, data, (client.client_id, secret or "")))


def test_user_failures_do_not_lock_an_administrator(tmp_path):
    config = {"lockout.max_failures": str(MAX_FAILURES), "lockout.wait": "600"}
    with run_server(tmp_path, config) as server:
        server.run(server.services.registry.create_admin(ADMIN, PASSWORD))
        client, secret = server.create_client("app", grant_types=["password"], scopes=["read"])
        data = {"grant_type": "password", "username": ADMIN, "password": "wrong"}
        for _ in range(MAX_FAILURES + 1):
            assert token_request(server, data, (client.client_id, secret or "")).status_code == 400
        assert manager_login(server, ADMIN, PASSWORD).status_code == 303
