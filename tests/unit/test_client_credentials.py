"""The client credentials grant on its own."""

from __future__ import annotations

import pytest

from authgate.config import Settings
from authgate.errors import OAuthError
from authgate.flows.client_credentials import ClientCredentialsFlow
from authgate.models import Client
from authgate.stores import MemoryStore
from authgate.tokens import TokenGrant, digest
from tests.unit.flow_setup import (
    EventLog,
    anyio_backend,  # noqa: F401 - a fixture, asked for by name
    app_client,
    configure,
    resolver,
    sandbox_key,
    token_request,
)

pytestmark = pytest.mark.anyio

SERVICE = app_client(
    "service", grant_types=("client_credentials", "refresh_token"), redirect_uris=()
)


class Setup:
    def __init__(self, settings: Settings | None = None) -> None:
        settings = settings or configure()
        self.tokens = MemoryStore()
        self.log = EventLog()
        self.flow = ClientCredentialsFlow(
            self.tokens,
            settings.token_settings("client_credentials"),
            resolver(settings, "client_credentials"),
            self.log.events,
        )

    async def grant(self, client: Client = SERVICE, **params: str) -> TokenGrant:
        return await self.flow.run(token_request(client, **params))


async def test_the_client_gets_a_token_for_itself_rfc6749_4_4():
    setup = Setup()
    grant = await setup.grant(scope="read")
    body = grant.response()
    assert (body["scope"], body["token_type"]) == ("read", "Bearer")
    access = await setup.tokens.get(digest(grant.access.value))
    assert access is not None
    assert (access.subject, access.username, access.client_id) == ("service", None, "service")
    assert setup.log.names() == ["token.issued"]


async def test_no_refresh_token_by_default_rfc6749_4_4_3():
    for settings in (configure(), configure(tokens={"refresh": "new"})):
        assert "refresh_token" not in (await Setup(settings).grant()).response()


@pytest.mark.parametrize(
    ("mode", "with_refresh"), [("new", True), ("preserve", False), ("none", False)]
)
async def test_a_refresh_token_only_when_the_flow_says_new(mode, with_refresh):
    setup = Setup(configure(flows={"client_credentials": {"tokens": {"refresh": mode}}}))
    assert ("refresh_token" in (await setup.grant()).response()) is with_refresh


async def test_public_clients_and_clients_without_the_grant_are_unauthorized():
    setup = Setup()
    public = app_client("spa", grant_types=("client_credentials",), public=True)
    other = app_client("web", grant_types=("authorization_code",))
    for client in (public, other):
        with pytest.raises(OAuthError) as raised:
            await setup.grant(client)
        assert raised.value.code == "unauthorized_client"


async def test_scope_rules_apply():
    setup = Setup()
    with pytest.raises(OAuthError) as raised:
        await setup.grant(scope="admin")
    assert raised.value.code == "invalid_scope"
    assert (await setup.grant()).response()["scope"] == "read write"


async def test_a_scope_policy_decides_the_tokens_scopes():
    setup = Setup(
        configure(
            flows={
                "client_credentials": {
                    "scopes": "policy",
                    "scopes_policy": "tests.policies:scopes_for_client",
                }
            }
        )
    )
    assert (await setup.grant(scope="read")).response()["scope"] == "read audit"


async def test_a_sandbox_keys_token_is_marked_as_one():
    setup = Setup(configure(flows={"client_credentials": {"tokens": {"refresh": "new"}}}))
    for client, is_sandbox in ((SERVICE, False), (sandbox_key(SERVICE), True)):
        grant = await setup.grant(client)
        assert grant.refresh is not None
        for token in (grant.access.value, grant.refresh.value):
            record = await setup.tokens.get(digest(token))
            assert record is not None and record.is_sandbox is is_sandbox
