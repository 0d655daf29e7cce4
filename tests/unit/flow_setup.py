"""What the unit tests of the flows share: real settings, clients, forms and an event log.

Flows run against `MemoryStore` and are called directly: no HTTP, no server.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import pytest

from authgate.config import GrantType, Settings, TokenSettings
from authgate.errors import StoreUnavailable
from authgate.events import Events
from authgate.flows import TokenRequest
from authgate.forms import Form
from authgate.models import Client, TokenRecord
from authgate.policies import load_policy
from authgate.scopes import ScopeResolver
from authgate.stores import Decide, Entry, MemoryStore, Redeemed
from authgate.tokens import IssuedToken, TokenGrant, digest

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


class CountingStore(MemoryStore):
    """A MemoryStore that lists the calls a flow makes: each one is a hop to a backend."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    async def get(self, key: str) -> TokenRecord | None:
        self.calls.append("get")
        return await super().get(key)

    async def put(self, entries: Sequence[Entry]) -> None:
        self.calls.append("put")
        await super().put(entries)

    async def exchange(
        self, key: str, entries: Sequence[Entry], *, successor: str | None = None
    ) -> bool:
        self.calls.append("exchange")
        return await super().exchange(key, entries, successor=successor)

    async def redeem(self, key: str, decide: Decide) -> Redeemed:
        self.calls.append("redeem")
        return await super().redeem(key, decide)


class Signer:
    """A TokenSigner that always signs: the access token gets a new value (and key), as a
    JWT access token does; with `fails`, signing raises as an unreachable key store does."""

    def __init__(self, *, fails: bool = False) -> None:
        self.fails = fails

    def signs(self, grant: TokenGrant, settings: TokenSettings, *, id_token: bool = False) -> bool:
        return True

    async def finish(
        self,
        grant: TokenGrant,
        settings: TokenSettings,
        *,
        id_token: bool = False,
        nonce: str | None = None,
    ) -> TokenGrant:
        if self.fails:
            raise StoreUnavailable("signing keys")
        value = f"signed.{grant.access.value}"
        return replace(grant, access=IssuedToken(value, digest(value), grant.access.record))
