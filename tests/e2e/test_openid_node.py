"""A relying party in another language: oauth4webapi (npm) in Node, run when `node` is present.

tests/e2e/node/relying_party.mjs makes the authorization request and, after this test's browser
has logged in and consented, checks the answer, the id token (claims and JWKS signature),
UserInfo, the refreshed id token and, with JWT access tokens, the RFC 9068 token. The package
is installed once into a cache folder outside the repository.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.browser import Browser, redirect_params
from tests.e2e.server import RunningServer, run_server

NODE = shutil.which("node")
SCRIPT = Path(__file__).parent / "node" / "relying_party.mjs"
PACKAGES = Path.home() / ".cache" / "authgate-tests" / "npm"
MODULE = PACKAGES / "node_modules" / "oauth4webapi" / "build" / "index.js"
REDIRECT = "https://node-rp.example/cb"
USER, PASSWORD = "alice", "correct horse battery staple"

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")


@pytest.fixture(scope="module")
def oauth4webapi() -> Path:
    if not MODULE.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("npm is not installed")
        PACKAGES.mkdir(parents=True, exist_ok=True)
        installed = subprocess.run(
            [
                npm,
                "install",
                "--no-audit",
                "--no-fund",
                "--prefix",
                str(PACKAGES),
                "oauth4webapi@3",
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if installed.returncode != 0:
            pytest.skip(f"npm could not install oauth4webapi: {installed.stderr[-300:]}")
    return MODULE


def relying_party(module: Path, step: str, **args: Any) -> dict[str, Any]:
    assert NODE is not None
    result = subprocess.run(
        [NODE, str(SCRIPT), step, json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ | {"OAUTH4WEBAPI": module.as_uri()},
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


@pytest.fixture(params=["opaque", "jwt"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningServer]:
    with run_server(tmp_path, {"tokens.access_token_format": request.param}) as running:
        running.create_user(USER, PASSWORD)
        yield running


def test_oauth4webapi_code_flow_userinfo_and_refresh(server, oauth4webapi):
    client, secret = server.create_client(
        "Node RP", redirect_uris=[REDIRECT], scopes=["openid", "photos.read"]
    )
    common = {"issuer": server.url, "client_id": client.client_id, "redirect_uri": REDIRECT}
    start = relying_party(oauth4webapi, "start", **common)
    with Browser(server.url) as browser:
        consent = browser.login(browser.get(start["url"]), USER, PASSWORD)
        callback = browser.decide(consent, "approve_once")
    assert "code" in redirect_params(callback)
    done = relying_party(
        oauth4webapi,
        "finish",
        **common,
        client_secret=secret,
        callback=callback.headers["location"],
        state=start["state"],
        nonce=start["nonce"],
        code_verifier=start["code_verifier"],
    )
    assert done["id_token"]["sub"] == USER and done["id_token"]["nonce"] == start["nonce"]
    assert done["userinfo"] == {"sub": USER, "preferred_username": USER}
    assert done["refreshed"]["sub"] == USER and "nonce" not in done["refreshed"]
    if server.settings.tokens.access_token_format == "jwt":
        assert done["access_token_claims"]["client_id"] == client.client_id
        assert done["access_token_claims"]["sub"] == USER
    else:
        assert done["access_token_claims"] is None
