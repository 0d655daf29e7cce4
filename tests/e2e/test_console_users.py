"""The manager's user pages over real HTTP: create, set a password, unlock, delete, and a
user's consents withdrawn with the tokens they stood behind; CSRF is enforced."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from authgate.passwords import verify_password
from tests.e2e.console import ADMIN, PASSWORD, Console, console, field_error, text_of
from tests.e2e.server import RunningServer, run_server
from tests.e2e.upstream import Upstream, bearer, issue, routes, run_upstream

FIRST_PASSWORD = "first password"


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    with run_upstream() as running:
        yield running


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, upstream: Upstream) -> Iterator[RunningServer]:
    config = {"gateway.routes": routes(upstream.url), "lockout.max_failures": "2"}
    with run_server(tmp_path_factory.mktemp("console-users"), config) as s:
        s.run(s.services.registry.create_admin(ADMIN, PASSWORD))
        yield s


@pytest.fixture
def admin(server: RunningServer) -> Iterator[Console]:
    with console(server) as session:
        yield session


@pytest.fixture(scope="module")
def password_client(server: RunningServer) -> tuple[str, str]:
    client, secret = server.create_client(
        "password app", grant_types=("password",), scopes=("photos.read",)
    )
    assert secret is not None
    return client.client_id, secret


def _password_grant(server, client: tuple[str, str], username: str, password: str) -> int:
    answer = httpx.post(
        f"{server.url}/oauth2/token",
        data={"grant_type": "password", "username": username, "password": password},
        auth=client,
    )
    return answer.status_code


def _create(admin: Console, username: str, password: str = FIRST_PASSWORD) -> httpx.Response:
    admin.get("/manager/users")
    return admin.post("/manager/users", {"username": username, "password": password})


def test_create_a_user_and_log_in_with_it(server, admin, password_client):
    answer = _create(admin, "carol")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/manager/users/show?username=carol&done=user-created"
    page = admin.get(answer.headers["location"])
    assert "The user was created." in page.text
    assert "first password" not in page.text
    assert "argon2" not in page.text  # no hash either
    assert "carol" in admin.get("/manager/users").text
    assert _password_grant(server, password_client, "carol", "first password") == 200


def test_create_refusals_are_tied_to_their_field(server, admin):
    _create(admin, "dave")
    taken = _create(admin, "dave")
    assert taken.status_code == 409
    assert "already exists" in field_error(taken.text, "username")
    empty = _create(admin, "erin", password="")
    assert empty.status_code == 422
    assert field_error(empty.text, "password")
    assert 'value="erin"' in empty.text  # the name is kept, the password is not
    assert server.run(server.services.registry.find_user("erin")) is None


def test_set_a_new_password(server, admin, password_client):
    _create(admin, "frank")
    admin.get("/manager/users/show", username="frank")
    answer = admin.post("/manager/users/password", {"username": "frank", "password": "new one"})
    assert answer.status_code == 303
    assert "The password was changed." in admin.get(answer.headers["location"]).text
    assert _password_grant(server, password_client, "frank", "first password") == 400
    assert _password_grant(server, password_client, "frank", "new one") == 200
    refused = admin.post("/manager/users/password", {"username": "frank", "password": ""})
    assert refused.status_code == 422
    assert field_error(refused.text, "password")


def test_unlock_lifts_a_lock(server, admin, password_client):
    _create(admin, "grace")
    for _ in range(2):
        assert _password_grant(server, password_client, "grace", "wrong") == 400
    page = admin.get("/manager/users/show", username="grace")
    assert "locked after failed logins" in page.text
    assert _password_grant(server, password_client, "grace", "first password") == 400
    answer = admin.post("/manager/users/unlock", {"username": "grace"})
    assert answer.status_code == 303
    assert "The lock was lifted." in admin.get(answer.headers["location"]).text
    assert _password_grant(server, password_client, "grace", "first password") == 200


def test_withdraw_a_consent_revokes_that_clients_tokens_for_that_user(server, admin):
    _create(admin, "heidi")
    photos, _ = server.create_client("Photo app", redirect_uris=("https://p.example/cb",))
    other, _ = server.create_client("Other app", redirect_uris=("https://o.example/cb",))
    registry = server.services.registry
    server.run(registry.consents.remember_consent("heidi", photos.client_id, ["photos.read"]))
    server.run(registry.consents.remember_consent("heidi", other.client_id, ["photos.read"]))
    withdrawn = issue(server, subject="heidi", client_id=photos.client_id)
    kept = issue(server, subject="heidi", client_id=other.client_id)
    page = admin.get("/manager/users/show", username="heidi")
    assert "Photo app" in page.text and "Other app" in page.text
    answer = admin.post(
        "/manager/users/consents/withdraw",
        {"username": "heidi", "client_id": photos.client_id},
    )
    assert answer.status_code == 303
    page = admin.get(answer.headers["location"])
    assert "The consent was withdrawn" in page.text
    assert "Photo app" not in page.text and "Other app" in page.text
    assert server.run(registry.consents.remembered_scopes("heidi", photos.client_id)) == frozenset()
    assert httpx.get(f"{server.url}/api/photos/1", headers=bearer(withdrawn)).status_code == 401
    assert httpx.get(f"{server.url}/api/photos/1", headers=bearer(kept)).status_code == 200
    again = admin.post(
        "/manager/users/consents/withdraw",
        {"username": "heidi", "client_id": photos.client_id},
    )
    assert again.status_code == 404


def test_delete_asks_first_then_removes_the_user_and_its_tokens(server, admin):
    _create(admin, "ivan/ops")  # a name that cannot sit in a path
    token = issue(server, subject="ivan/ops")
    confirm = admin.get("/manager/users/delete", username="ivan/ops")
    assert confirm.status_code == 200
    assert 'name="username" value="ivan/ops"' in confirm.text
    assert server.run(server.services.registry.find_user("ivan/ops")) is not None
    answer = admin.post("/manager/users/delete", {"username": "ivan/ops"})
    assert (answer.status_code, answer.headers["location"]) == (
        303,
        "/manager/users?done=user-deleted",
    )
    assert server.run(server.services.registry.find_user("ivan/ops")) is None
    assert httpx.get(f"{server.url}/api/photos/1", headers=bearer(token)).status_code == 401
    assert admin.get("/manager/users/show", username="ivan/ops").status_code == 404
    assert admin.post("/manager/users/delete", {"username": "ivan/ops"}).status_code == 404


@pytest.mark.parametrize("case", ["no_token", "other_session", "foreign_origin"])
@pytest.mark.parametrize("action", ["create", "password", "unlock", "delete", "withdraw"])
def test_actions_refused_without_this_sessions_csrf_token(
    server, admin, password_client, case, action
):
    registry = server.services.registry
    name = f"judy-{case}-{action}"
    server.create_user(name, "the password")
    client, _ = server.create_client("consented", redirect_uris=("https://c.example/cb",))
    server.run(registry.consents.remember_consent(name, client.client_id, ["photos.read"]))
    for _ in range(2):  # max_failures: locked
        assert _password_grant(server, password_client, name, "wrong") == 400
    data = {"username": name, "password": "forged", "client_id": client.client_id}
    headers: dict[str, str] = {}
    if case == "no_token":
        data["csrf_token"] = ""
    elif case == "other_session":
        with console(server) as other:
            data["csrf_token"] = other.csrf_token
    else:
        headers["Origin"] = "https://evil.example"
    if action == "create":
        data["username"] = name + "-new"
    path = {
        "create": "/manager/users",
        "password": "/manager/users/password",
        "delete": "/manager/users/delete",
        "withdraw": "/manager/users/consents/withdraw",
        "unlock": "/manager/users/unlock",
    }[action]
    answer = admin.post(path, data, **headers)
    assert answer.status_code == 403
    assert "Nothing was changed" in text_of(answer.text)
    assert server.run(registry.find_user(name + "-new")) is None
    assert server.run(registry.find_user(name)) is not None
    assert server.run(registry.consents.remembered_scopes(name, client.client_id)) == {
        "photos.read"
    }
    assert server.run(server.services.lockout.is_locked(name))
    hashed = server.run(registry.user_password_hash(name))
    assert server.run(verify_password("the password", hashed))
