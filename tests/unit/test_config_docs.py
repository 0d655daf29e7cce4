"""docs/configuration.md is what scripts/config_docs.py writes from the settings models."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, Field

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "config_docs.py"
DOC = ROOT / "docs" / "configuration.md"

# The keys of SPEC.md's "Configuration" section (its TOML example) and of its LDAP paragraph.
SPEC_KEYS = (
    "issuer",
    "storage.url",
    "storage.tokens",
    "storage.codes",
    "client_auth.location",
    "client_auth.client_id_field",
    "client_auth.client_secret_field",
    "authorization_code.code_length",
    "authorization_code.code_expiry",
    "authorization_code.pkce",
    "tokens.access_token_expiry",
    "tokens.access_token_length",
    "tokens.access_token_type",
    "tokens.refresh",
    "tokens.refresh_token_expiry",
    "tokens.refresh_token_length",
    "tokens.metadata",
    "flows.password.users",
    "flows.password.policy",
    "flows.password.subject_attribute",
    "flows.password.scopes",
    "flows.password.scopes_policy",
    "flows.password.scopes_attribute",
    "flows.client_credentials.tokens.refresh",
    "ldap.url",
    "ldap.bind_dn",
    "ldap.bind_password",
    "ldap.user_base",
    "ldap.user_filter",
    "ldap.timeout",
    "ldap.start_tls",
    "lockout.max_failures",
    "lockout.wait",
    "lockout.max_wait",
    "lockout.reset",
    "monitoring.enabled",
    "monitoring.client_attribute",
    "monitoring.record_outbound",
    "gateway.routes[].path",
    "gateway.routes[].upstream",
    "gateway.routes[].scopes",
    "gateway.routes[].service",
    "gateway.routes[].timeout",
    "gateway.routes[].strip_prefix",
    "gateway.routes[].header_prefix",
)
GRANTS = r"(authorization_code|refresh_token|password|client_credentials)"


def load_script():
    spec = importlib.util.spec_from_file_location("config_docs", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def config_docs():
    return load_script()


def test_the_committed_file_is_current(config_docs):
    assert DOC.read_text(encoding="utf-8") == config_docs.render(), (
        "docs/configuration.md is stale: run `make docs`"
    )


def documented_keys(text: str) -> set[str]:
    return set(re.findall(r"^\| `([^`]+)` \|", text, flags=re.MULTILINE))


@pytest.mark.parametrize("key", SPEC_KEYS)
def test_every_key_of_the_spec_is_documented(config_docs, key):
    documented = documented_keys(config_docs.render())
    generic = re.sub(rf"^flows\.{GRANTS}\.", "flows.<grant>.", key)
    assert key in documented or generic in documented


def test_defaults_and_meanings_come_from_the_models(config_docs):
    rows = {key.name: key for table in config_docs.tables() for key in table.keys}
    assert rows["storage.url"].default == '`"sqlite:///authgate.db"`'
    assert rows["tokens.access_token_expiry"].default == "`3600`"
    assert rows["monitoring.enabled"].default == "`true`"
    assert rows["gateway.routes[].path"].default == "required"
    assert rows["flows.<grant>.tokens.refresh"].default == "unset"
    assert rows["lockout.wait"].meaning == "seconds of the first lock; doubles at each further lock"
    assert rows["client_auth.location"].meaning.endswith('one of `"header"`, `"body"`, `"any"`')
    assert "flows.password.users" in rows
    assert "flows.authorization_code.users" not in rows
    assert "flows.<grant>.users" not in rows


def test_a_setting_without_a_description_stops_the_generator(config_docs):
    class Undocumented(BaseModel):
        mode: Literal["a", "b"] = Field(default="a", description="how")
        colour: str = "blue"

    with pytest.raises(ValueError, match="colour: the field has no description"):
        list(config_docs.tables(Undocumented))


def test_check_fails_on_a_stale_file_and_names_make_docs(tmp_path):
    stale = tmp_path / "configuration.md"
    stale.write_text("# Configuration\n")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(SCRIPT), "--output", str(stale), *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    checked = run("--check")
    assert checked.returncode == 1
    assert "run `make docs`" in checked.stderr
    assert run().returncode == 0
    assert run("--check").returncode == 0
    assert stale.read_text(encoding="utf-8") == DOC.read_text(encoding="utf-8")
