"""What the unit tests of the flows share: real settings, clients, forms and an event log.

Flows run against `MemoryStore` and are called directly: no HTTP, no server.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pytest

from authgate.config import GrantType, Settings
from authgate.events import Events
from authgate.flows import TokenRequest
from authgate.forms import Form
from authgate.models import Client, TokenRecord
from authgate.policies import load_policy
from authgate.scopes import ScopeResolver
from authgate.tokens import digest

ISSUER = "https://login.example"
REDIRECT = "https://app.example/callback"
VERIFIER = "v" * 43


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def configure(**sections: Any) -> Settings:
    """Settings as the TOML file would give them, e.g. configure(tokens={"refresh": "none"})."""
    return Settings.model_validate(sections)


def app_client(
    client_id: str = "app",
    *,
    grant_types: tuple[GrantType, ...] = ("authorization_code", "refresh_token"),
    scopes: tuple[str, ...] = ("read", "write"),
    redirect_uris: tuple[str, ...] = (REDIRECT,),
    public: bool = False,
) -> Client:
    return Client(
        client_id=client_id,
        name=f"The {client_id} application",
        secret_hash=None if public else digest(f"secret of {client_id}"),
        redirect_uris=redirect_uris,
        scopes=scopes,
        grant_types=grant_types,
        is_public=public,
    )


def sandbox_key(client: Client) -> Client:
    """`client` as a developer portal application's sandbox key."""
    return replace(client, app_id="app-1", environment="sandbox")


def form(**params: str) -> Form:
    return Form(params.items())


def token_request(client: Client, **params: str) -> TokenRequest:
    return TokenRequest(client=client, form=form(**params))


def resolver(settings: Settings, grant_type: GrantType) -> ScopeResolver:
    """A flow's scope rule, its policy imported as the wiring does at start."""
    flow = settings.flow(grant_type)
    policy = None
    if flow.scopes == "policy":
        policy = load_policy(flow.scopes_policy, f"flows.{grant_type}.scopes_policy")
    return ScopeResolver(flow, policy)


class EventLog:
    """A subscriber that keeps what the flows emit."""

    def __init__(self) -> None:
        self.events = Events()
        self.seen: list[tuple[str, dict[str, Any]]] = []
        self.events.subscribe(self._keep)

    def _keep(self, name: str, fields: Mapping[str, Any]) -> None:
        self.seen.append((name, dict(fields)))

    def names(self) -> list[str]:
        return [name for name, _ in self.seen]


def code_record(
    client: Client,
    *,
    scopes: tuple[str, ...] = ("read",),
    redirect_uri: str | None = REDIRECT,
    challenge: str | None = None,
    grant_id: str = "grant-1",
    expires_in: int = 600,
) -> TokenRecord:
    """What the authorization endpoint stores for a code."""
    issued_at = int(time.time())
    return TokenRecord(
        kind="authorization_code",
        client_id=client.client_id,
        grant_id=grant_id,
        scopes=scopes,
        issued_at=issued_at,
        expires_at=issued_at + expires_in,
        subject="subject-of-alice",
        username="alice",
        redirect_uri=redirect_uri,
        code_challenge=challenge,
    )
