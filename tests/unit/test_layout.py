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


def test_no_module_is_over_400_lines() -> None:
    sizes = {
        str(path.relative_to(SOURCE)): len(path.read_text().splitlines())
        for path in SOURCE.rglob("*.py")
    }
    assert {name: size for name, size in sizes.items() if size > 400} == {}
