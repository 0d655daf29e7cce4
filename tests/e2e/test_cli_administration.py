"""The administration commands (`client update`, `client rotate-secret`, `user`, `admin`,
`route`) as an operator runs them: real processes, real exit codes, one-line errors."""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from authgate import __version__
from authgate.cli import build_parser
from tests.e2e.server import run_server
from tests.e2e.test_cli import authgate, ok


def fails(result: subprocess.CompletedProcess[str], *words: str) -> None:
    """Exit status 2 and one line on stderr naming `words`; nothing on stdout."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stderr.startswith("authgate: ")
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr
    assert result.stdout == ""


def create_client(tmp_path: Path, *options: str) -> dict[str, object]:
    created: dict[str, object] = json.loads(
        ok(
            authgate(
                tmp_path,
                "client",
                "create",
                "--name",
                "app",
                "--redirect-uri",
                "https://app.example/cb",
                "--scope",
                "read",
                "--json",
                *options,
            )
        )
    )
    return created


def test_help_describes_the_product_with_examples_and_every_option(tmp_path: Path):
    top = ok(authgate(tmp_path, "--help"))
    assert "OAuth 2.0 authorization server" in top
    assert "examples:" in top and "authgate client create" in top
    assert "SPEC" not in top
    assert ok(authgate(tmp_path, "--version")).strip() == f"authgate {__version__}"

    def walk(parser: argparse.ArgumentParser, name: str) -> list[str]:
        missing = []
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                helped = {choice.dest for choice in action._choices_actions if choice.help}
                missing += [f"{name} {c}" for c in action.choices if c not in helped]
                for command, sub in action.choices.items():
                    missing += walk(sub, f"{name} {command}")
            elif not action.help:
                missing.append(f"{name} {'/'.join(action.option_strings) or action.dest}")
        return missing

    assert walk(build_parser(), "authgate") == []


def test_client_update_replaces_each_list_given_and_keeps_the_rest(tmp_path: Path):
    created = create_client(tmp_path)
    client_id = str(created["client_id"])
    updated = json.loads(
        ok(
            authgate(
                tmp_path,
                "client",
                "update",
                client_id,
                "--name",
                "renamed",
                "--scope",
                "a",
                "--scope",
                "b",
                "--json",
            )
        )
    )
    assert (updated["name"], updated["scopes"]) == ("renamed", ["a", "b"])
    assert updated["redirect_uris"] == ["https://app.example/cb"]
    assert "client_secret" not in updated
    fails(authgate(tmp_path, "client", "update", "nobody", "--name", "x"), "nobody")
    fails(
        authgate(tmp_path, "client", "update", client_id, "--redirect-uri", "not-absolute"),
        "--redirect-uri",
    )


def test_rotate_secret_shows_the_new_one_once_and_keeps_the_old_for_the_grace(tmp_path: Path):
    created = create_client(
        tmp_path, "--grant-type", "client_credentials", "--grant-type", "authorization_code"
    )
    client_id, old = str(created["client_id"]), str(created["client_secret"])
    rotated = json.loads(
        ok(authgate(tmp_path, "client", "rotate-secret", client_id, "--grace", "300", "--json"))
    )
    assert set(rotated) == {"client_id", "client_secret"}
    with run_server(tmp_path) as server:
        for secret in (old, rotated["client_secret"]):
            answer = httpx.post(
                f"{server.url}/oauth2/token",
                data={"grant_type": "client_credentials"},
                auth=(client_id, secret),
            )
            assert answer.status_code == 200
    plain = ok(authgate(tmp_path, "client", "rotate-secret", client_id))
    assert plain.startswith("client_secret: ")
    fails(authgate(tmp_path, "client", "rotate-secret", client_id, "--grace", "-5"), "--grace")
    public = create_client(tmp_path, "--public")
    fails(authgate(tmp_path, "client", "rotate-secret", str(public["client_id"])), "public")


def test_users_are_listed_given_a_password_and_deleted(tmp_path: Path):
    ok(authgate(tmp_path, "user", "create", "alice", "--password-stdin", stdin="first-pw\n"))
    ok(authgate(tmp_path, "user", "create", "bob", "--password-stdin", stdin="bob-pw\n"))
    listed = json.loads(ok(authgate(tmp_path, "user", "list", "--json")))
    assert [(u["username"], u["locked"]) for u in listed] == [("alice", False), ("bob", False)]
    text = ok(authgate(tmp_path, "user", "list"))
    assert text.split() == ["alice", "bob"]
    assert "pw" not in text + json.dumps(listed)

    ok(authgate(tmp_path, "user", "password", "alice", "--password-stdin", stdin="second-pw\n"))
    created = create_client(tmp_path, "--grant-type", "password")
    with run_server(tmp_path) as server:

        def login(password: str) -> int:
            return httpx.post(
                f"{server.url}/oauth2/token",
                data={"grant_type": "password", "username": "alice", "password": password},
                auth=(str(created["client_id"]), str(created["client_secret"])),
            ).status_code

        assert (login("first-pw"), login("second-pw")) == (400, 200)

    ok(authgate(tmp_path, "user", "delete", "alice"))
    assert [
        u["username"] for u in json.loads(ok(authgate(tmp_path, "user", "list", "--json")))
    ] == ["bob"]
    fails(authgate(tmp_path, "user", "delete", "alice"), "alice")
    fails(authgate(tmp_path, "user", "password", "alice", "--password-stdin", stdin="x\n"), "alice")
    fails(authgate(tmp_path, "user", "create", "bob", "--password-stdin", stdin="x\n"), "exists")


def test_administrators_are_listed_and_deleted(tmp_path: Path):
    ok(authgate(tmp_path, "admin", "create", "root", "--password-stdin", stdin="root-pw\n"))
    listed = json.loads(ok(authgate(tmp_path, "admin", "list", "--json")))
    assert [a["username"] for a in listed] == ["root"]
    assert "root-pw" not in json.dumps(listed)
    assert ok(authgate(tmp_path, "admin", "list")).split() == ["root"]
    ok(authgate(tmp_path, "admin", "delete", "root"))
    assert json.loads(ok(authgate(tmp_path, "admin", "list", "--json"))) == []
    fails(authgate(tmp_path, "admin", "delete", "root"), "root")


@pytest.fixture
def config_with_route(tmp_path: Path) -> Path:
    config = tmp_path / "authgate.toml"
    config.write_text(
        '[[gateway.routes]]\npath = "/api/photos"\nupstream = "http://127.0.0.1:9"\n'
        'service = "photos"\n'
    )
    return config


def test_routes_are_added_listed_and_deleted_beside_the_files(
    tmp_path: Path, config_with_route: Path
):
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return authgate(tmp_path, "--config", str(config_with_route), "route", *args)

    added = json.loads(
        ok(
            run(
                "add",
                "--path",
                "/api/orders",
                "--upstream",
                "http://127.0.0.1:9001",
                "--scope",
                "orders.read",
                "--service",
                "orders",
                "--strip-prefix",
                "--json",
            )
        )
    )
    assert (added["source"], added["strip_prefix"], added["scopes"]) == (
        "api",
        True,
        ["orders.read"],
    )
    listed = json.loads(ok(run("list", "--json")))
    assert [(r["service"], r["source"]) for r in listed] == [
        ("orders", "api"),
        ("photos", "config"),
    ]
    assert "orders" in ok(run("list"))

    fails(
        run("add", "--path", "/api/photos", "--upstream", "http://x", "--service", "p2"),
        "/api/photos",
    )
    fails(run("add", "--path", "/api/orders", "--upstream", "http://x", "--service", "o2"))
    fails(run("add", "--path", "no-slash", "--upstream", "http://x", "--service", "z"), "--path")
    fails(run("delete", "photos"), "configuration file")
    ok(run("delete", "orders"))
    fails(run("delete", "orders"), "orders")


def test_a_route_added_by_the_cli_is_in_force_in_a_running_server_within_5_seconds(
    tmp_path: Path,
):
    with run_server(tmp_path) as server:
        url = f"{server.url}/api/orders/1"
        assert httpx.get(url).status_code == 404
        ok(
            authgate(
                tmp_path,
                "route",
                "add",
                "--path",
                "/api/orders",
                "--upstream",
                "http://127.0.0.1:9",
                "--service",
                "orders",
            )
        )
        deadline = time.monotonic() + 5
        while httpx.get(url).status_code != 401:  # the gateway now asks for a token
            assert time.monotonic() < deadline, "route not in force within 5 s"
            time.sleep(0.1)
        ok(authgate(tmp_path, "route", "delete", "orders"))
        deadline = time.monotonic() + 5
        while httpx.get(url).status_code != 404:
            assert time.monotonic() < deadline, "route still in force after 5 s"
            time.sleep(0.1)
