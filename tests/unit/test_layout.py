"""The shape of the package: what the framework-free parts may import, and module sizes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import authgate

SOURCE = Path(authgate.__file__).parent
WEB_STACK = ("starlette", "prometheus_client", "uvicorn", "jinja2")


def test_flows_users_policies_and_operations_never_reach_the_web_stack() -> None:
    # A fresh interpreter: what these modules import, and nothing a test imported before.
    code = (
        "import json, sys\n"
        "import authgate.flows, authgate.flows.authorization_code, authgate.flows.password\n"
        "import authgate.flows.refresh_token, authgate.flows.client_credentials\n"
        "import authgate.users, authgate.users.local, authgate.users.ldap\n"
        "import authgate.users.policy, authgate.users.authentication, authgate.policies\n"
        "import authgate.operations\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    loaded = json.loads(
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
    )
    reached = [name for name in loaded if name.split(".")[0] in WEB_STACK]
    assert reached == []


# A worker with the default settings, from start through issuing, introspecting and revoking
# opaque tokens, then asked for its JWKS, its metrics and a page. What it need not load at
# start (issue 15): joserfc and cryptography (about 9.5 MB) come with the first key, id token,
# JWT access token, sealed value or client certificate; prometheus_client (about 1.3 MB) with
# the first scrape; jinja2 (about 1.9 MB) with the first page; regex (about 1.4 MB) with the
# first username.
WORKER = """\
import asyncio, json, sys
import httpx
import authgate.cli, authgate.server
from authgate.app import create_app
from authgate.config import load_settings

LAZY = ("cryptography", "jinja2", "joserfc", "prometheus_client", "regex")

def loaded():
    return sorted({name.split(".")[0] for name in sys.modules} & set(LAZY))

async def main(directory):
    environ = {"AUTHGATE_STORAGE__URL": f"sqlite:///{directory}/authgate.db"}
    app = create_app(load_settings(environ=environ))
    seen = {}
    async with app.router.lifespan_context(app):
        seen["start"] = loaded()
        registry = app.state.services.registry
        client, secret = await registry.create_client(
            "svc", scopes=["read"], grant_types=["client_credentials"], can_introspect=True
        )
        transport = httpx.ASGITransport(app=app)
        auth = (client.client_id, secret)
        async with httpx.AsyncClient(transport=transport, base_url="http://authgate") as http:
            for path in ("/healthz", "/.well-known/openid-configuration"):
                assert (await http.get(path)).status_code == 200
            answer = await http.post(
                "/oauth2/token", data={"grant_type": "client_credentials"}, auth=auth
            )
            token = answer.json()["access_token"]
            form = {"token": token}
            found = await http.post("/oauth2/introspect", data=form, auth=auth)
            assert found.json()["active"] is True
            assert (await http.post("/oauth2/revoke", data=form, auth=auth)).status_code == 200
            seen["opaque tokens"] = loaded()
            assert (await http.get("/oauth2/jwks")).status_code == 200
            assert (await http.get("/metrics")).status_code == 200
            assert (await http.get("/oauth2/authorize")).status_code == 400  # its error page
            seen["jwks, metrics, a page"] = loaded()
    print(json.dumps(seen))

asyncio.run(main(sys.argv[1]))
"""


def test_a_default_worker_loads_its_heavy_libraries_only_when_they_are_used(
    tmp_path: Path,
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", WORKER, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.splitlines()[-1])
    assert seen["start"] == [] and seen["opaque tokens"] == []
    # The probe does see them load.
    used = ["cryptography", "jinja2", "joserfc", "prometheus_client"]
    assert seen["jwks, metrics, a page"] == used


def test_no_module_is_over_400_lines() -> None:
    sizes = {
        str(path.relative_to(SOURCE)): len(path.read_text().splitlines())
        for path in SOURCE.rglob("*.py")
    }
    assert {name: size for name, size in sizes.items() if size > 400} == {}
