"""The `authgate` command as an operator runs it: a real process, real exit codes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.server import run_server


def authgate(
    tmp_path: Path, *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AUTHGATE_")}
    environ |= env or {}
    return subprocess.run(
        [sys.executable, "-m", "authgate.cli", *args],
        cwd=tmp_path,
        input=stdin,
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def created_client(tmp_path: Path, *options: str) -> dict[str, Any]:
    """`authgate client create --name svc OPTIONS --json`: the client it printed."""
    printed = ok(authgate(tmp_path, "client", "create", "--name", "svc", *options, "--json"))
    client: dict[str, Any] = json.loads(printed)
    return client


def test_client_create_prints_credentials_once_and_stores_a_hash(tmp_path):
    out = ok(
        authgate(
            tmp_path,
            "client",
            "create",
            "--name",
            "photos",
            "--redirect-uri",
            "https://app.example/cb",
            "--scope",
            "photos.read",
            "--json",
        )
    )
    created = json.loads(out)
    assert re.fullmatch(r"[A-Za-z0-9]+", created["client_id"])
    assert re.fullmatch(r"[A-Za-z0-9]{43,}", created["client_secret"])
    assert created["redirect_uris"] == ["https://app.example/cb"]
    assert created["scopes"] == ["photos.read"]
    assert created["grant_types"] == ["authorization_code", "refresh_token"]
    assert created["public"] is False
    listed = ok(authgate(tmp_path, "client", "list", "--json"))
    assert json.loads(listed)[0]["client_id"] == created["client_id"]
    shown = ok(authgate(tmp_path, "client", "show", created["client_id"], "--json"))
    for text in (listed, shown):
        assert created["client_secret"] not in text
        assert "secret" not in text
    assert created["client_secret"].encode() not in (tmp_path / "authgate.db").read_bytes()


def test_public_client_cannot_use_client_credentials(tmp_path):
    result = authgate(
        tmp_path,
        "client",
        "create",
        "--name",
        "spa",
        "--public",
        "--grant-type",
        "client_credentials",
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "client_credentials" in result.stderr
    assert "Traceback" not in result.stderr


def test_user_create_reads_one_line_from_stdin(tmp_path):
    ok(authgate(tmp_path, "user", "create", "alice", "--password-stdin", stdin="pw one\n"))
    again = authgate(tmp_path, "user", "create", "alice", "--password-stdin", stdin="x\n")
    assert again.returncode == 2
    assert "already exists" in again.stderr
    assert b"pw one" not in (tmp_path / "authgate.db").read_bytes()


def test_token_create_count_json_lines_and_revoke(tmp_path):
    created = created_client(
        tmp_path,
        *("--grant-type", "client_credentials", "--grant-type", "password"),
        *("--grant-type", "refresh_token", "--scope", "a"),
    )
    lines = ok(
        authgate(
            tmp_path, "token", "create", "--client", created["client_id"], "--count", "3", "--json"
        )
    ).splitlines()
    tokens = [json.loads(line) for line in lines]
    assert len(tokens) == 3
    assert all(len(t["access_token"]) == 54 and "refresh_token" not in t for t in tokens)
    user_tokens = json.loads(
        ok(
            authgate(
                tmp_path,
                "token",
                "create",
                "--client",
                created["client_id"],
                "--user",
                "bob",
                "--json",
            )
        )
    )
    assert len(user_tokens["refresh_token"]) == 46
    ok(authgate(tmp_path, "token", "revoke", tokens[0]["access_token"]))
    ok(authgate(tmp_path, "token", "revoke", user_tokens["refresh_token"]))
    ok(authgate(tmp_path, "token", "revoke", "no-such-token"))  # RFC 7009: unknown is fine
    with run_server(tmp_path) as server:  # the same database the commands used
        resource, secret = server.create_client(
            "rs", grant_types=["client_credentials"], can_introspect=True
        )

        def active(token: str) -> bool:
            answer = httpx.post(
                f"{server.url}/oauth2/introspect",
                data={"token": token},
                auth=(resource.client_id, secret or ""),
            )
            assert answer.status_code == 200
            is_active: bool = answer.json()["active"]
            return is_active

        assert not active(tokens[0]["access_token"])
        assert [active(t["access_token"]) for t in tokens[1:]] == [True, True]
        # RFC 7009 section 2.1: a revoked refresh token takes its access token with it.
        assert not active(user_tokens["refresh_token"])
        assert not active(user_tokens["access_token"])
    ok(authgate(tmp_path, "token", "purge"))
    ok(authgate(tmp_path, "client", "delete", created["client_id"]))
    listed = json.loads(ok(authgate(tmp_path, "client", "list", "--json")))
    assert [c["client_id"] for c in listed] == [resource.client_id]


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ("[tokens]\nrefresh = 'sometimes'\n", "tokens.refresh"),
        ("[storage]\nnonsense = 1\n", "storage.nonsense"),
    ],
)
def test_bad_configuration_is_one_line_naming_the_key(tmp_path, config, key):
    (tmp_path / "bad.toml").write_text(config)
    for command in (["client", "list"], ["serve"]):
        result = authgate(tmp_path, "--config", "bad.toml", *command)
        assert result.returncode == 2
        assert result.stderr.strip().count("\n") == 0
        assert key in result.stderr


def test_serve_demo_without_httpx_is_one_line_naming_the_extra(tmp_path):
    """httpx is the `demo` extra: without it `serve --demo` stops before it listens."""
    hidden = (
        "import runpy, sys; sys.modules['httpx'] = None; "
        "sys.argv = ['authgate', 'serve', '--demo', '--port', '0']; "
        "runpy.run_module('authgate.cli', run_name='__main__')"
    )
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AUTHGATE_")}
    result = subprocess.run(
        [sys.executable, "-c", hidden],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "pip install 'authgate[demo]'" in result.stderr
    assert not (tmp_path / "authgate.db").exists()  # nothing was started


def test_environment_names_the_configuration(tmp_path):
    (tmp_path / "c.toml").write_text(f"[storage]\nurl = 'sqlite:///{tmp_path}/other.db'\n")
    ok(
        authgate(
            tmp_path,
            "client",
            "create",
            "--name",
            "x",
            "--grant-type",
            "client_credentials",
            env={"AUTHGATE_CONFIG": str(tmp_path / "c.toml")},
        )
    )
    assert (tmp_path / "other.db").exists()
    assert not (tmp_path / "authgate.db").exists()


def test_token_create_many_spans_several_batches(tmp_path):
    created = json.loads(
        ok(
            authgate(
                tmp_path,
                "client",
                "create",
                "--name",
                "bench",
                "--grant-type",
                "client_credentials",
                "--json",
            )
        )
    )
    lines = ok(
        authgate(
            tmp_path,
            "token",
            "create",
            "--client",
            created["client_id"],
            "--count",
            "1201",
            "--json",
        )
    ).splitlines()
    assert len({json.loads(line)["access_token"] for line in lines}) == 1201


def test_unknown_client_is_a_user_error(tmp_path):
    result = authgate(tmp_path, "token", "create", "--client", "nobody")
    assert result.returncode == 2
    assert result.stderr.startswith("authgate: ")


def test_token_create_keeps_the_user_s_canonical_name(tmp_path):
    created = created_client(tmp_path, "--grant-type", "password", "--scope", "a", "--introspect")
    client_id = created["client_id"]
    refused = authgate(tmp_path, "token", "create", "--client", client_id, "--user", "bo\tb")
    assert refused.returncode != 0
    assert refused.stderr.strip().count("\n") == 0 and "--user" in refused.stderr
    token = ok(authgate(tmp_path, "token", "create", "--client", client_id, "--user", " BOB "))
    with run_server(tmp_path) as server:
        answer = httpx.post(
            f"{server.url}/oauth2/introspect",
            data={"token": token.strip()},
            auth=(client_id, created["client_secret"]),
        )
    assert answer.json()["username"] == "bob"  # as `user revoke` and the admin API name it
