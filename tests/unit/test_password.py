"""The resource owner password credentials grant on its own, with a stub user repository."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import pytest

from authgate.config import GrantType, Settings
from authgate.errors import OAuthError
from authgate.flows.password import PasswordFlow
from authgate.models import Client, User
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

PASSWORDS = {"alice": "alice-password", "bob": "bob-password"}
GRANTS: tuple[GrantType, ...] = ("password", "refresh_token")


class StubUsers:
    """`UserAuthentication.authenticate` as the flow sees it: a user for the right password."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, tuple[str, ...]]] = []

    async def __call__(
        self,
        username: str,
        password: str,
        *,
        client_id: str,
        attributes: MutableMapping[str, Any],
        scopes: tuple[str, ...] = (),
    ) -> User | None:
        self.calls.append((username, client_id, scopes))
        if PASSWORDS.get(username) != password:
            return None
        attributes["authentication.subject.id"] = f"subject-of-{username}"
        return User(username=username, subject=f"subject-of-{username}")


class Setup:
    def __init__(self, settings: Settings | None = None) -> None:
        settings = settings or configure()
        self.tokens = MemoryStore()
        self.users = StubUsers()
        self.log = EventLog()
        self.flow = PasswordFlow(
            self.tokens,
            settings.token_settings("password"),
            resolver(settings, "password"),
            self.users,
            self.log.events,
        )

    async def grant(self, client: Client | None = None, **params: str) -> TokenGrant:
        client = client or app_client(grant_types=GRANTS)
        return await self.flow.run(token_request(client, **params))


async def refused(call, code: str) -> None:
    with pytest.raises(OAuthError) as raised:
        await call
    assert raised.value.code == code


async def test_the_right_password_gets_tokens_for_the_user_rfc6749_4_3():
    setup = Setup()
    grant = await setup.grant(username="alice", password="alice-password", scope="read")
    body = grant.response()
    assert (body["scope"], body["expires_in"]) == ("read", 3600)
    assert "refresh_token" in body
    access = await setup.tokens.get(digest(grant.access.value))
    assert access is not None
    assert (access.subject, access.username, access.client_id) == (
        "subject-of-alice",
        "alice",
        "app",
    )
    assert setup.users.calls == [("alice", "app", ("read",))]
    assert setup.log.names() == ["token.issued"]


@pytest.mark.parametrize("password", ["wrong", ""])
async def test_a_wrong_password_is_invalid_grant_and_stores_nothing(password):
    setup = Setup()
    params = {"username": "alice"} | ({"password": password} if password else {})
    await refused(setup.grant(**params), "invalid_grant" if password else "invalid_request")
    assert await setup.tokens.purge(2**62) == 0  # nothing was stored


async def test_an_unknown_user_answers_like_a_wrong_password():
    setup = Setup()
    await refused(setup.grant(username="mallory", password="alice-password"), "invalid_grant")


async def test_scope_rules_apply():
    setup = Setup()
    await refused(
        setup.grant(username="alice", password="alice-password", scope="admin"), "invalid_scope"
    )
    everything = await setup.grant(username="alice", password="alice-password")
    assert everything.response()["scope"] == "read write"  # no scope: all registered


async def test_a_scope_policy_sees_the_user():
    setup = Setup(
        configure(
            flows={
                "password": {"scopes": "policy", "scopes_policy": "tests.policies:scopes_for_user"}
            }
        )
    )
    alice = await setup.grant(username="alice", password="alice-password")
    bob = await setup.grant(username="bob", password="bob-password")
    assert (alice.response()["scope"], bob.response()["scope"]) == ("read write", "read")


async def test_the_client_needs_the_grant():
    setup = Setup()
    client = app_client(grant_types=("authorization_code",))
    await refused(
        setup.flow.run(token_request(client, username="alice", password="alice-password")),
        "unauthorized_client",
    )
    assert setup.users.calls == []  # refused before any password check


@pytest.mark.parametrize(
    ("mode", "with_refresh"), [("new", True), ("preserve", True), ("none", False)]
)
async def test_refresh_token_per_the_flows_settings(mode, with_refresh):
    setup = Setup(
        configure(flows={"password": {"tokens": {"refresh": mode, "access_token_length": 30}}})
    )
    grant = await setup.grant(username="alice", password="alice-password")
    assert ("refresh_token" in grant.response()) is with_refresh
    assert len(grant.access.value) == 30


async def test_a_sandbox_keys_tokens_are_marked_as_such():
    setup = Setup()
    key = sandbox_key(app_client(grant_types=GRANTS))
    grant = await setup.grant(key, username="alice", password="alice-password")
    assert grant.refresh is not None
    for token in (grant.access.value, grant.refresh.value):
        record = await setup.tokens.get(digest(token))
        assert record is not None and record.is_sandbox
