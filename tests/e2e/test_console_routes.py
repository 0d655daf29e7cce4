"""The manager's gateway route pages over real HTTP: configuration-file routes read-only,
registry routes added and deleted; CSRF is enforced. And the read-only applications page."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.console import ADMIN, PASSWORD, Console, console, field_error, text_of
from tests.e2e.server import RunningServer, run_server

CONFIGURED = [{"path": "/api/files", "upstream": "http://127.0.0.1:9", "service": "files"}]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    config = {"gateway.routes": json.dumps(CONFIGURED)}
    with run_server(tmp_path_factory.mktemp("console-routes"), config) as s:
        s.run(s.services.registry.create_admin(ADMIN, PASSWORD))
        yield s


@pytest.fixture
def admin(server: RunningServer) -> Iterator[Console]:
    with console(server) as session:
        yield session


def _registry_routes(server: RunningServer) -> dict[str, str]:
    return {r.service: r.path for r in server.run(server.services.registry.routes.list())}


def _add(admin: Console, **fields: str) -> httpx.Response:
    admin.get("/manager/routes")
    form = {"path": "/api/books", "upstream": "http://127.0.0.1:9/books", "service": "books"}
    return admin.post("/manager/routes", form | fields)


def test_configuration_routes_are_listed_read_only(admin):
    page = admin.get("/manager/routes")
    assert page.status_code == 200
    row = page.text.split('data-service="files"', 1)[1].split("</tr>", 1)[0]
    assert "/api/files" in row and "read-only" in row
    assert "delete" not in row.lower()
    refused = admin.get("/manager/routes/delete", service="files")
    assert refused.status_code == 409
    assert "configuration file" in refused.text
    admin.get("/manager/routes")
    assert admin.post("/manager/routes/delete", {"service": "files"}).status_code == 409


def test_add_then_delete_a_route(server, admin):
    answer = _add(admin, scopes="books.read books.write", timeout="5", strip_prefix="on")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/manager/routes?done=route-added"
    stored = next(r for r in server.run(server.services.registry.routes.list()))
    assert (stored.path, stored.upstream, stored.service) == (
        "/api/books",
        "http://127.0.0.1:9/books",
        "books",
    )
    assert stored.scopes == ("books.read", "books.write")
    assert (stored.timeout, stored.strip_prefix) == (5, True)
    assert stored.sandbox_upstream == ""  # left empty: sandbox keys' calls are refused
    page = admin.get(answer.headers["location"])
    assert "The route was added." in page.text
    row = page.text.split('data-service="books"', 1)[1].split("</tr>", 1)[0]
    assert "registry" in row and "/manager/routes/delete?service=books" in row

    confirm = admin.get("/manager/routes/delete", service="books")
    assert confirm.status_code == 200
    assert 'name="service" value="books"' in confirm.text
    assert "books" in _registry_routes(server)  # the GET only asks
    deleted = admin.post("/manager/routes/delete", {"service": "books"})
    assert (deleted.status_code, deleted.headers["location"]) == (
        303,
        "/manager/routes?done=route-deleted",
    )
    assert "books" not in _registry_routes(server)
    assert admin.post("/manager/routes/delete", {"service": "books"}).status_code == 404


@pytest.mark.parametrize(
    ("fields", "status", "field", "words"),
    [
        ({"upstream": "ftp://files.example"}, 422, "upstream", "http"),
        ({"path": "api/relative"}, 422, "path", "start with '/'"),
        ({"service": ""}, 422, "service", "service name"),
        ({"timeout": "0"}, 422, "timeout", "greater than 0"),
        ({"sandbox_upstream": "ftp://sandbox.example"}, 422, "sandbox_upstream", "http"),
        ({"service": "files", "path": "/api/other"}, 409, "service", "configuration file"),
        ({"path": "/api/files", "service": "shadow"}, 409, "service", "configuration file"),
    ],
)
def test_add_refusals_are_tied_to_their_field(server, admin, fields, status, field, words):
    answer = _add(admin, **fields)
    assert answer.status_code == status
    assert words in field_error(answer.text, field)
    assert 'role="alert"' in answer.text
    assert _registry_routes(server) == {}


@pytest.mark.parametrize("case", ["no_token", "other_session", "foreign_origin"])
def test_actions_refused_without_this_sessions_csrf_token(server, admin, case):
    assert _add(admin, service="kept", path="/api/kept").status_code == 303
    data = {"path": "/api/forged", "upstream": "http://127.0.0.1:9", "service": "forged"}
    headers: dict[str, str] = {}
    if case == "no_token":
        data["csrf_token"] = ""
    elif case == "other_session":
        with console(server) as other:
            data["csrf_token"] = other.csrf_token
    else:
        headers["Origin"] = "https://evil.example"
    for path, form in (("/manager/routes", data), ("/manager/routes/delete", {"service": "kept"})):
        answer = admin.post(
            path, form | {k: v for k, v in data.items() if k == "csrf_token"}, **headers
        )
        assert answer.status_code == 403
        assert "Nothing was changed" in text_of(answer.text)
    assert _registry_routes(server) == {"kept": "/api/kept"}
    admin.get("/manager/routes")
    assert admin.post("/manager/routes/delete", {"service": "kept"}).status_code == 303


def test_applications_page_is_read_only_and_needs_a_login(server, admin):
    assert httpx.get(f"{server.url}/manager/applications").status_code == 303
    page = admin.get("/manager/applications")
    assert page.status_code == 200
    assert 'id="no-applications"' in page.text
    assert '<form method="post" action="/manager/applications' not in page.text
    assert admin.post("/manager/applications", {}).status_code == 405


def test_a_route_with_a_sandbox_upstream(server, admin):
    answer = _add(admin, sandbox_upstream="http://127.0.0.1:9/sandbox")
    assert answer.status_code == 303
    stored = next(r for r in server.run(server.services.registry.routes.list()))
    assert stored.sandbox_upstream == "http://127.0.0.1:9/sandbox"
    assert "http://127.0.0.1:9/sandbox" in admin.get("/manager/routes").text
