"""`/portal/api/v1` over real HTTP, row by row of SPEC.md's table and every rule of its
"Developer portal" section, with developer tokens the server issued."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.server import RunningServer, run_server
from tests.e2e.test_admin_api import Admin, ApiClient, assert_problem, client_token

API = "/portal/api/v1"
CALLBACK = "https://frame.example/cb"
SANDBOX_KEY = {
    "redirect_uris": [CALLBACK],
    "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
    "scopes": ["photos.read"],
}


class Developer(ApiClient):
    """A developer's tool: an `authgate:portal` token whose `sub` is the developer."""

    def __init__(self, server: RunningServer, tool: tuple[str, str], username: str) -> None:
        server.create_user(username, f"{username}-password")
        response = httpx.post(
            f"{server.url}/oauth2/token",
            data={
                "grant_type": "password",
                "username": username,
                "password": f"{username}-password",
                "scope": "authgate:portal",
            },
            auth=tool,
        )
        assert response.status_code == 200, response.text
        super().__init__(server, API, response.json()["access_token"])

    def new_app(self, name: str = "Photo frame") -> str:
        created = self.post("/applications", json={"name": name, "description": "a frame"})
        assert created.status_code == 201, created.text
        app_id: str = created.json()["app_id"]
        return app_id


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    config = {"portal.scopes": json.dumps(["photos.read", "photos.write", "openid"])}
    with run_server(tmp_path, config) as running:
        yield running


@pytest.fixture
def tool(server: RunningServer) -> tuple[str, str]:
    """The portal's own client, registered by an operator for the reserved scope."""
    client, secret = server.create_client(
        "portal-cli", scopes=("authgate:portal",), grant_types=("password",)
    )
    assert secret is not None
    return client.client_id, secret


@pytest.fixture
def alice(server: RunningServer, tool: tuple[str, str]) -> Iterator[Developer]:
    developer = Developer(server, tool, "alice")
    yield developer
    developer.http.close()


@pytest.fixture
def bob(server: RunningServer, tool: tuple[str, str]) -> Iterator[Developer]:
    developer = Developer(server, tool, "bob")
    yield developer
    developer.http.close()


def test_applications_are_created_listed_shown_changed_and_deleted(alice: Developer):
    created = alice.post("/applications", json={"name": "Photo frame", "description": "a frame"})
    assert created.status_code == 201
    body = created.json()
    app_id = body["app_id"]
    assert created.headers["location"] == f"{API}/applications/{app_id}"
    assert set(body) == {"app_id", "name", "description", "owner", "created_at", "keys"}
    assert (body["owner"], body["keys"]) == ("alice", {"production": None, "sandbox": None})
    assert alice.get("/applications").json() == {"items": [body]}
    assert alice.get(f"/applications/{app_id}").json() == body
    patched = alice.patch(
        f"/applications/{app_id}",
        content=json.dumps({"description": "shows photos"}),
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert patched.status_code == 200
    assert (patched.json()["name"], patched.json()["description"]) == (
        "Photo frame",
        "shows photos",
    )
    assert alice.delete(f"/applications/{app_id}").status_code == 204
    assert_problem(alice.get(f"/applications/{app_id}"), 404)
    assert alice.get("/applications").json() == {"items": []}


def test_keys_are_generated_once_shown_changed_and_work_at_the_token_endpoint(
    alice: Developer, server: RunningServer
):
    app_id = alice.new_app()
    created = alice.post(f"/applications/{app_id}/keys/sandbox", json=SANDBOX_KEY)
    assert created.status_code == 201, created.text
    key = created.json()
    assert created.headers["location"] == f"{API}/applications/{app_id}/keys/sandbox"
    assert set(key) == {
        "client_id",
        "environment",
        "redirect_uris",
        "grant_types",
        "scopes",
        "created_at",
        "client_secret",
    }
    assert key["environment"] == "sandbox"
    again = alice.post(f"/applications/{app_id}/keys/sandbox", json=SANDBOX_KEY)
    assert_problem(again, 409)
    shown = alice.get(f"/applications/{app_id}/keys/sandbox").json()
    assert shown == {k: v for k, v in key.items() if k != "client_secret"}
    assert alice.get(f"/applications/{app_id}").json()["keys"]["sandbox"] == shown

    # An ordinary confidential client at the token endpoint.
    token = client_token(server, key["client_id"], key["client_secret"])
    assert token

    patched = alice.patch(f"/applications/{app_id}/keys/sandbox", json={"scopes": ["photos.write"]})
    assert patched.status_code == 200, patched.text
    assert patched.json()["scopes"] == ["photos.write"]
    assert patched.json()["redirect_uris"] == [CALLBACK]
    assert "client_secret" not in patched.json()


def test_regenerating_a_secret_stops_the_old_one_at_once(alice: Developer, server: RunningServer):
    app_id = alice.new_app()
    key = alice.post(f"/applications/{app_id}/keys/production", json=SANDBOX_KEY).json()
    rotated = alice.post(f"/applications/{app_id}/keys/production/secret")
    assert rotated.status_code == 200, rotated.text
    assert set(rotated.json()) == {"client_id", "client_secret"}
    assert rotated.json()["client_id"] == key["client_id"]
    old = httpx.post(
        f"{server.url}/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(key["client_id"], key["client_secret"]),
    )
    assert old.status_code == 401
    assert old.json()["error"] == "invalid_client"
    assert client_token(server, key["client_id"], rotated.json()["client_secret"])


def _digest(token: str) -> str:
    from authgate.tokens import digest

    return digest(token)


def test_deleting_a_key_or_its_application_revokes_their_tokens(
    alice: Developer, server: RunningServer
):
    app_id = alice.new_app()
    sandbox = alice.post(f"/applications/{app_id}/keys/sandbox", json=SANDBOX_KEY).json()
    production = alice.post(f"/applications/{app_id}/keys/production", json=SANDBOX_KEY).json()
    sandbox_token = client_token(server, sandbox["client_id"], sandbox["client_secret"])
    production_token = client_token(server, production["client_id"], production["client_secret"])

    assert alice.delete(f"/applications/{app_id}/keys/sandbox").status_code == 204
    assert_problem(alice.get(f"/applications/{app_id}/keys/sandbox"), 404)
    assert server.run(server.services.tokens.get(_digest(sandbox_token))) is None
    assert server.run(server.services.tokens.get(_digest(production_token))) is not None

    assert alice.delete(f"/applications/{app_id}").status_code == 204
    assert server.run(server.services.tokens.get(_digest(production_token))) is None
    refused = httpx.post(
        f"{server.url}/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(production["client_id"], production["client_secret"]),
    )
    assert refused.status_code == 401


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"grant_types": ["password"]}, "grant_types"),  # outside [portal] grant_types
        ({"grant_types": ["implicit"]}, "grant_types"),  # no grant type at all
        ({"scopes": ["authgate:portal"]}, "scopes"),  # reserved
        ({"scopes": ["authgate:admin"]}, "scopes"),  # reserved
        ({"scopes": ["payments"]}, "scopes"),  # outside a non-empty [portal] scopes
        ({"redirect_uris": []}, "redirect_uris"),  # authorization_code without a callback
        ({"redirect_uris": ["https://frame.example/cb#x"]}, "redirect_uris"),
        ({"extra": 1}, "extra"),
    ],
)
def test_a_key_breaking_a_rule_is_422_naming_the_field(
    alice: Developer, change: dict[str, Any], field: str
):
    app_id = alice.new_app()
    assert_problem(
        alice.post(f"/applications/{app_id}/keys/sandbox", json={**SANDBOX_KEY, **change}),
        422,
        field,
    )
    assert alice.get(f"/applications/{app_id}").json()["keys"]["sandbox"] is None
    alice.post(f"/applications/{app_id}/keys/sandbox", json=SANDBOX_KEY)
    assert_problem(alice.patch(f"/applications/{app_id}/keys/sandbox", json=change), 422, field)
    assert alice.get(f"/applications/{app_id}/keys/sandbox").json()["scopes"] == ["photos.read"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"description": "x"}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x", "owner": "b"}, "owner"),
    ],
)
def test_an_application_breaking_a_rule_is_422_naming_the_field(
    alice: Developer, body: dict[str, Any], field: str
):
    assert_problem(alice.post("/applications", json=body), 422, field)


def test_an_unknown_environment_is_404(alice: Developer):
    app_id = alice.new_app()
    assert_problem(alice.post(f"/applications/{app_id}/keys/staging", json=SANDBOX_KEY), 404)


def test_another_developer_gets_404_for_everything_of_the_first(alice: Developer, bob: Developer):
    app_id = alice.new_app()
    alice.post(f"/applications/{app_id}/keys/sandbox", json=SANDBOX_KEY)
    app = f"/applications/{app_id}"
    attempts = [
        bob.get(app),
        bob.patch(app, json={"name": "mine"}),
        bob.delete(app),
        bob.get(f"{app}/usage"),
        bob.post(f"{app}/keys/production", json=SANDBOX_KEY),
        bob.get(f"{app}/keys/sandbox"),
        bob.patch(f"{app}/keys/sandbox", json={"scopes": ["photos.write"]}),
        bob.post(f"{app}/keys/sandbox/secret"),
        bob.delete(f"{app}/keys/sandbox"),
    ]
    for answer in attempts:
        assert_problem(answer, 404)
    assert bob.get("/applications").json() == {"items": []}
    mine = alice.get(app).json()
    assert mine["name"] == "Photo frame"
    assert mine["keys"]["production"] is None
    assert mine["keys"]["sandbox"]["scopes"] == ["photos.read"]


def test_secrets_appear_only_in_the_two_answers_that_create_them(
    alice: Developer, server: RunningServer
):
    app_id = alice.new_app()
    app = f"/applications/{app_id}"
    key = alice.post(f"{app}/keys/sandbox", json=SANDBOX_KEY).json()
    rotated = alice.post(f"{app}/keys/sandbox/secret").json()
    alice.get("/applications")
    alice.get(app)
    alice.get(f"{app}/keys/sandbox")
    alice.patch(f"{app}/keys/sandbox", json={"scopes": ["photos.write"]})
    alice.patch(app, json={"name": "Album"})
    alice.get(f"{app}/usage")
    creating = [
        a
        for a in alice.answers
        if a.request.method == "POST" and a.request.url.path.startswith(f"{API}{app}/keys")
    ]
    assert len(creating) == 2
    for answer in alice.answers:
        if answer in creating:
            assert "client_secret" in answer.json()
            continue
        assert "client_secret" not in answer.text
        assert key["client_secret"] not in answer.text
        assert rotated["client_secret"] not in answer.text
    operator = Admin(server)
    listed = operator.get("/applications").text + operator.get("/clients").text
    operator.http.close()
    assert key["client_secret"] not in listed and rotated["client_secret"] not in listed


def test_no_token_or_a_token_without_the_portal_scope_is_refused(server: RunningServer):
    url = f"{server.url}{API}/applications"
    assert_problem(httpx.get(url), 401)
    client, secret = server.create_client(
        "ordinary", scopes=("photos.read",), grant_types=("client_credentials",)
    )
    ordinary = client_token(server, client.client_id, secret)
    forbidden = httpx.get(url, headers={"Authorization": f"Bearer {ordinary}"})
    assert_problem(forbidden, 403, "authgate:portal")


def test_the_administration_lists_every_developers_applications(
    alice: Developer, bob: Developer, server: RunningServer
):
    mine, theirs = alice.new_app("Frame"), bob.new_app("Album")
    operator = Admin(server)
    listed = operator.get("/applications").json()["items"]
    operator.http.close()
    assert {a["app_id"]: a["owner"] for a in listed} == {mine: "alice", theirs: "bob"}


def test_the_openapi_document_describes_the_portal_api(server: RunningServer):
    document = httpx.get(f"{server.url}/admin/api/v1/openapi.json").json()
    keys = f"{API}/applications/{{app_id}}/keys/{{environment}}"
    assert {
        f"{API}/applications",
        f"{API}/applications/{{app_id}}",
        f"{API}/applications/{{app_id}}/usage",
        keys,
        f"{keys}/secret",
    } <= set(document["paths"])
    assert set(document["paths"][keys]) == {"get", "post", "patch", "delete"}


def test_a_disabled_portal_has_no_api(tmp_path: Path):
    with run_server(tmp_path, {"portal.enabled": "false"}) as server:
        answer = httpx.get(f"{server.url}{API}/applications")
        assert answer.status_code == 404
