"""The manager's client pages over real HTTP: register, edit, rotate the secret, delete;
the secret appears only in the answer to a registration or rotation; CSRF is enforced."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.console import ADMIN, PASSWORD, Console, console, field_error, text_of
from tests.e2e.server import RunningServer, free_port, run_server
from tests.e2e.upstream import Upstream, bearer, issue, routes, run_upstream


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    with run_upstream() as running:
        yield running


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, upstream: Upstream) -> Iterator[RunningServer]:
    with run_server(
        tmp_path_factory.mktemp("console"), {"gateway.routes": routes(upstream.url)}
    ) as s:
        s.run(s.services.registry.create_admin(ADMIN, PASSWORD))
        yield s


@pytest.fixture
def admin(server: RunningServer) -> Iterator[Console]:
    with console(server) as session:
        yield session


def _token(server: RunningServer, client_id: str, secret: str) -> int:
    answer = httpx.post(
        f"{server.url}/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
    )
    return answer.status_code


def _secret_shown(html: str) -> tuple[str, str]:
    client_id = re.search(r'<code id="client-id">([^<]+)</code>', html)
    secret = re.search(r'<code id="client-secret" class="secret">([^<]+)</code>', html)
    assert client_id and secret, html
    return client_id.group(1), secret.group(1)


def _register(admin: Console, **fields: str | list[str]) -> tuple[str, str]:
    admin.get("/manager/clients/new")
    form: dict[str, str | list[str]] = {
        "name": "Billing",
        "redirect_uris": "",
        "scopes": "photos.read",
        "grant_types": ["client_credentials"],
    }
    answer = admin.post("/manager/clients/new", form | fields)
    assert answer.status_code == 201, answer.text
    assert "only time the secret is shown" in answer.text
    assert answer.headers["cache-control"] == "no-store"
    assert "location" not in answer.headers
    return _secret_shown(answer.text)


def test_every_console_page_needs_a_login(server):
    client, _ = server.create_client("held", redirect_uris=("https://app.example/cb",))
    for path in (
        "/manager/clients",
        "/manager/clients/new",
        f"/manager/clients/{client.client_id}",
        f"/manager/clients/{client.client_id}/delete",
        "/manager/users",
        "/manager/users/show?username=x",
        "/manager/routes",
    ):
        answer = httpx.get(server.url + path)
        assert (answer.status_code, answer.headers["location"]) == (303, "/manager/login"), path
    answer = httpx.post(f"{server.url}/manager/clients/{client.client_id}/delete", data={})
    assert answer.status_code == 303
    assert server.run(server.services.registry.get_client(client.client_id)) is not None


def test_register_shows_the_secret_once_and_it_works(server, admin):
    client_id, secret = _register(admin, name="Billing once")
    assert _token(server, client_id, secret) == 200
    listing = admin.get("/manager/clients")
    assert listing.status_code == 200
    assert "Billing once" in listing.text and client_id in listing.text
    detail = admin.get(f"/manager/clients/{client_id}")
    assert detail.status_code == 200
    stored = server.run(server.services.registry.get_client(client_id))
    for page in (listing, detail, admin.get("/manager/clients/new")):
        assert secret not in page.text
        assert stored.secret_hash not in page.text
        assert page.headers["cache-control"] == "no-store"
        assert page.headers["x-frame-options"] == "DENY"


def test_register_a_public_client_shows_no_secret(admin):
    admin.get("/manager/clients/new")
    answer = admin.post(
        "/manager/clients/new",
        {
            "name": "Mobile",
            "redirect_uris": "https://mobile.example/cb",
            "grant_types": ["authorization_code", "refresh_token"],
            "public": "on",
        },
    )
    assert answer.status_code == 201
    assert 'id="client-secret"' not in answer.text
    assert "public" in admin.get("/manager/clients").text


def test_names_are_shown_as_text_never_as_markup(admin):
    client_id, _ = _register(admin, name='<img src=x onerror="alert(1)">')
    for path in ("/manager/clients", f"/manager/clients/{client_id}"):
        html = admin.get(path).text
        assert "<img src=x" not in html
        assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in html


def test_a_public_client_has_no_secret_to_rotate(server, admin):
    client, _ = server.create_client(
        "spa", is_public=True, redirect_uris=("https://spa.example/cb",)
    )
    page = admin.get(f"/manager/clients/{client.client_id}")
    assert "Rotate the secret" not in page.text
    answer = admin.post(f"/manager/clients/{client.client_id}/secret", {"grace": "0"})
    assert answer.status_code == 409
    assert "public" in text_of(answer.text)
    assert 'id="client-secret"' not in answer.text


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"name": ""}, "name", "at least 1 character"),
        ({"grant_types": ["authorization_code"]}, "redirect_uris", "redirect URI"),
        ({"redirect_uris": "/relative"}, "redirect_uris", "absolute"),
        ({"public": "on"}, "grant_types", "public client"),
        ({"scopes": "authgate:admin"}, "scopes", "reserved"),
        ({"grant_types": []}, "grant_types", "at least 1"),
    ],
)
def test_register_errors_come_back_tied_to_their_field(admin, fields, field, words):
    before = admin.get("/manager/clients").text.count("<tr>")
    admin.get("/manager/clients/new")
    form = {"name": "Broken", "scopes": "a b", "grant_types": ["client_credentials"]} | fields
    answer = admin.post("/manager/clients/new", form)
    assert answer.status_code == 422
    assert words in field_error(answer.text, field)
    assert 'role="alert"' in answer.text
    assert 'value="Broken"' in answer.text or fields.get("name") == ""  # the input is kept
    assert admin.get("/manager/clients").text.count("<tr>") == before


def test_edit_changes_the_client_and_redirects(server, admin):
    client_id, _ = _register(admin, name="Before")
    admin.get(f"/manager/clients/{client_id}")
    answer = admin.post(
        f"/manager/clients/{client_id}",
        {
            "name": "After",
            "redirect_uris": "https://a.example/cb\nhttps://b.example/cb",
            "scopes": "photos.read videos.read",
            "grant_types": ["client_credentials", "authorization_code"],
            "introspect": "on",
        },
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/manager/clients/{client_id}?done=client-saved"
    stored = server.run(server.services.registry.get_client(client_id))
    assert stored.name == "After"
    assert stored.redirect_uris == ("https://a.example/cb", "https://b.example/cb")
    assert stored.scopes == ("photos.read", "videos.read")
    assert stored.can_introspect is True
    assert "The client was saved." in admin.get(answer.headers["location"]).text


def test_edit_refused_keeps_the_client(server, admin):
    client_id, _ = _register(admin, name="Kept")
    admin.get(f"/manager/clients/{client_id}")
    answer = admin.post(
        f"/manager/clients/{client_id}", {"name": "Renamed", "grant_types": [], "scopes": ""}
    )
    assert answer.status_code == 422
    assert field_error(answer.text, "grant_types")
    assert 'value="Renamed"' in answer.text
    assert server.run(server.services.registry.get_client(client_id)).name == "Kept"


def test_rotate_shows_the_new_secret_once_and_the_old_one_stops(server, admin):
    client_id, old = _register(admin, name="Rotated")
    admin.get(f"/manager/clients/{client_id}")
    answer = admin.post(f"/manager/clients/{client_id}/secret", {"grace": "0"})
    assert answer.status_code == 200
    shown_id, new = _secret_shown(answer.text)
    assert shown_id == client_id and new != old
    assert _token(server, client_id, new) == 200
    assert _token(server, client_id, old) == 401
    assert new not in admin.get(f"/manager/clients/{client_id}").text
    assert new not in admin.get("/manager/clients").text


def test_rotate_with_a_grace_period_keeps_the_old_secret(server, admin):
    client_id, old = _register(admin, name="Graceful")
    admin.get(f"/manager/clients/{client_id}")
    answer = admin.post(f"/manager/clients/{client_id}/secret", {"grace": "300"})
    _, new = _secret_shown(answer.text)
    assert _token(server, client_id, old) == 200
    assert _token(server, client_id, new) == 200


def test_rotate_refuses_a_negative_grace(server, admin):
    client_id, old = _register(admin, name="Negative")
    admin.get(f"/manager/clients/{client_id}")
    answer = admin.post(f"/manager/clients/{client_id}/secret", {"grace": "-5"})
    assert answer.status_code == 422
    assert field_error(answer.text, "grace")
    assert 'id="client-secret"' not in answer.text
    assert _token(server, client_id, old) == 200


def test_delete_asks_first_then_revokes_the_clients_tokens(server, admin):
    client_id, _ = _register(admin, name="Doomed")
    token = issue(server, subject=None, client_id=client_id)
    assert httpx.get(f"{server.url}/api/photos/1", headers=bearer(token)).status_code == 200
    confirm = admin.get(f"/manager/clients/{client_id}/delete")
    assert confirm.status_code == 200
    assert "cannot be undone" in confirm.text
    assert f'action="/manager/clients/{client_id}/delete"' in confirm.text
    assert server.run(server.services.registry.get_client(client_id)) is not None  # GET: asks
    answer = admin.post(f"/manager/clients/{client_id}/delete", {})
    assert (answer.status_code, answer.headers["location"]) == (
        303,
        "/manager/clients?done=client-deleted",
    )
    assert server.run(server.services.registry.get_client(client_id)) is None
    assert httpx.get(f"{server.url}/api/photos/1", headers=bearer(token)).status_code == 401
    assert admin.get(f"/manager/clients/{client_id}").status_code == 404
    assert admin.post(f"/manager/clients/{client_id}/delete", {}).status_code == 404


@pytest.mark.parametrize("case", ["no_token", "other_session", "foreign_origin", "cross_site"])
@pytest.mark.parametrize("action", ["edit", "rotate", "delete", "register"])
def test_actions_refused_without_this_sessions_csrf_token(server, admin, case, action):
    client, secret = server.create_client(
        "guarded", grant_types=("client_credentials",), redirect_uris=()
    )
    data: dict[str, str | list[str]] = {"name": "forged", "grant_types": ["client_credentials"]}
    headers: dict[str, str] = {}
    if case == "no_token":
        data["csrf_token"] = ""
    elif case == "other_session":
        with console(server) as other:
            data["csrf_token"] = other.csrf_token
    elif case == "foreign_origin":
        headers["Origin"] = "https://evil.example"
    else:
        headers["Sec-Fetch-Site"] = "cross-site"
    path = {
        "edit": f"/manager/clients/{client.client_id}",
        "rotate": f"/manager/clients/{client.client_id}/secret",
        "delete": f"/manager/clients/{client.client_id}/delete",
        "register": "/manager/clients/new",
    }[action]
    before = admin.get("/manager/clients").text.count("<tr>")
    answer = admin.post(path, data, **headers)
    assert answer.status_code == 403
    assert "Nothing was changed" in text_of(answer.text)
    stored = server.run(server.services.registry.get_client(client.client_id))
    assert stored.name == "guarded"
    assert _token(server, client.client_id, secret) == 200
    assert admin.get("/manager/clients").text.count("<tr>") == before


def test_a_token_store_that_is_down_answers_503(tmp_path):
    down = f"postgresql://postgres@127.0.0.1:{free_port()}/test"
    with run_server(tmp_path, {"storage.tokens": down}) as server:
        server.run(server.services.registry.create_admin(ADMIN, PASSWORD))
        client, _ = server.create_client("held", redirect_uris=("https://a.example/cb",))
        with console(server) as admin:
            admin.get(f"/manager/clients/{client.client_id}")
            answer = admin.post(f"/manager/clients/{client.client_id}/delete", {})
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"] == "temporarily_unavailable"
