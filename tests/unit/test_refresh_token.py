"""The refresh token grant on its own: rotation, replay, grace period, preserve and none."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from authgate.config import Settings
from authgate.errors import OAuthError
from authgate.flows.refresh_token import RefreshTokenFlow
from authgate.models import Client
from authgate.stores import MemoryStore
from authgate.tokens import TokenGrant, digest, mint, new_grant
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


class Setup:
    def __init__(self, settings: Settings | None = None) -> None:
        settings = settings or configure()
        self.tokens = MemoryStore()
        self.log = EventLog()
        self.settings = settings.token_settings("refresh_token")
        self.flow = RefreshTokenFlow(
            self.tokens, self.settings, resolver(settings, "refresh_token"), self.log.events
        )

    async def first_grant(
        self,
        client: Client,
        scopes: tuple[str, ...] = ("read", "write"),
    ) -> TokenGrant:
        """Tokens as an earlier grant issued them, with a refresh token."""
        base = new_grant(client.client_id, scopes, subject="subject-of-alice", username="alice")
        grant = mint(base, self.settings, client=client, with_refresh=True)
        await self.tokens.put(grant.entries)
        return grant

    async def refresh(self, client: Client, token: str, **params: str) -> TokenGrant:
        return await self.flow.run(token_request(client, refresh_token=token, **params))

    async def is_live(self, token: str) -> bool:
        record = await self.tokens.get(digest(token))
        return record is not None and not record.consumed


def refresh_of(grant: TokenGrant) -> str:
    assert grant.refresh is not None
    return grant.refresh.value


async def refused(call, code: str = "invalid_grant") -> None:
    with pytest.raises(OAuthError) as raised:
        await call
    assert raised.value.code == code


async def test_new_rotates_the_refresh_token_rfc9700_4_14_2():
    setup = Setup()
    client = app_client()
    first = await setup.first_grant(client)
    second = await setup.refresh(client, refresh_of(first))
    body = second.response()
    assert body["refresh_token"] != refresh_of(first)
    assert body["scope"] == "read write"
    assert not await setup.is_live(refresh_of(first))  # removed once presented
    assert await setup.is_live(refresh_of(second))
    new_access = await setup.tokens.get(digest(second.access.value))
    assert new_access is not None and new_access.grant_id == first.access.record.grant_id
    assert (new_access.subject, new_access.username) == ("subject-of-alice", "alice")
    assert setup.log.names() == ["token.issued"]


async def test_a_replayed_refresh_token_revokes_the_whole_grant_rfc9700_4_14_2():
    setup = Setup()
    client = app_client()
    first = await setup.first_grant(client)
    second = await setup.refresh(client, refresh_of(first))
    await refused(setup.refresh(client, refresh_of(first)))
    for token in (first.access.value, second.access.value, refresh_of(second)):
        assert not await setup.is_live(token)
    assert setup.log.names() == ["token.issued", "refresh_token.reused"]


async def test_within_the_grace_period_the_same_successor_is_answered():
    setup = Setup(configure(tokens={"refresh_grace_period": 30}))
    client = app_client()
    first = await setup.first_grant(client)
    second = await setup.refresh(client, refresh_of(first))
    again = await setup.refresh(client, refresh_of(first))  # a retry after a lost answer
    assert again.response() == second.response()
    assert await setup.is_live(refresh_of(second))
    assert setup.log.names() == ["token.issued", "refresh_token.grace"]


async def test_after_the_grace_period_a_retry_is_a_replay(monkeypatch):
    setup = Setup(configure(tokens={"refresh_grace_period": 5}))
    client = app_client()
    first = await setup.first_grant(client)
    second = await setup.refresh(client, refresh_of(first))
    later = time.time() + 6
    monkeypatch.setattr("authgate.flows.refresh_token.now", lambda: int(later))
    await refused(setup.refresh(client, refresh_of(first)))
    assert not await setup.is_live(refresh_of(second))


async def test_grace_ends_once_the_successor_was_used():
    setup = Setup(configure(tokens={"refresh_grace_period": 30}))
    client = app_client()
    first = await setup.first_grant(client)
    second = await setup.refresh(client, refresh_of(first))
    await setup.refresh(client, refresh_of(second))  # the client has moved on
    await refused(setup.refresh(client, refresh_of(first)))


async def test_preserve_returns_the_presented_token_unchanged():
    setup = Setup(configure(tokens={"refresh": "preserve"}))
    client = app_client()
    first = await setup.first_grant(client)
    second = await setup.refresh(client, refresh_of(first))
    assert second.refresh is None
    assert second.response()["refresh_token"] == refresh_of(first)
    assert await setup.is_live(refresh_of(first))
    third = await setup.refresh(client, refresh_of(first))  # and it keeps working
    assert third.access.value != second.access.value


async def test_none_issues_only_an_access_token_and_removes_the_presented_one():
    setup = Setup(configure(flows={"refresh_token": {"tokens": {"refresh": "none"}}}))
    client = app_client()
    first = await setup.first_grant(client)
    second = await setup.refresh(client, refresh_of(first))
    assert "refresh_token" not in second.response()
    assert await setup.is_live(second.access.value)
    await refused(setup.refresh(client, refresh_of(first)))


async def test_the_scope_may_narrow_never_widen_rfc6749_6():
    setup = Setup()
    client = app_client(scopes=("read", "write", "admin"))
    first = await setup.first_grant(client, scopes=("read", "write"))
    narrowed = await setup.refresh(client, refresh_of(first), scope="read")
    assert narrowed.response()["scope"] == "read"
    assert narrowed.refresh is not None and narrowed.refresh.record.scopes == ("read", "write")
    await refused(setup.refresh(client, refresh_of(narrowed), scope="read admin"), "invalid_scope")
    assert await setup.is_live(refresh_of(narrowed))  # a refused request changes nothing


async def test_another_clients_token_is_invalid_grant_and_revokes_nothing():
    setup = Setup()
    client, thief = app_client(), app_client("thief")
    first = await setup.first_grant(client)
    await refused(setup.refresh(thief, refresh_of(first)))
    second = await setup.refresh(client, refresh_of(first))
    await refused(setup.refresh(thief, refresh_of(first)))  # rotated, still not theirs
    assert await setup.is_live(refresh_of(second))
    assert await setup.is_live(second.access.value)  # the family was not revoked
    assert "refresh_token.reused" not in setup.log.names()
    assert await setup.refresh(client, refresh_of(second))  # the owner goes on


async def test_an_access_token_or_unknown_value_is_no_refresh_token():
    setup = Setup()
    client = app_client()
    first = await setup.first_grant(client)
    await refused(setup.refresh(client, first.access.value))
    await refused(setup.refresh(client, "not-a-token"))


async def test_the_client_needs_the_grant_and_the_request_a_token():
    setup = Setup()
    first = await setup.first_grant(app_client())
    await refused(
        setup.refresh(app_client(grant_types=("authorization_code",)), refresh_of(first)),
        "unauthorized_client",
    )
    await refused(setup.flow.run(token_request(app_client())), "invalid_request")


async def test_a_scope_policy_approves_within_the_grant():
    settings = configure(
        flows={
            "refresh_token": {"scopes": "policy", "scopes_policy": "tests.policies:scopes_for_user"}
        }
    )
    setup = Setup(settings)
    client = app_client()
    first = await setup.first_grant(client)  # alice: the policy approves read and write
    assert (await setup.refresh(client, refresh_of(first))).response()["scope"] == "read write"


@pytest.mark.parametrize("mode", ["new", "preserve"])
async def test_a_sandbox_keys_refreshed_tokens_stay_marked(mode):
    setup = Setup(configure(tokens={"refresh": mode}))
    key = sandbox_key(app_client())
    first = await setup.first_grant(key)
    assert first.access.record.is_sandbox
    second = await setup.refresh(key, refresh_of(first))
    tokens = [second.access.value] + ([second.refresh.value] if second.refresh else [])
    for token in tokens:
        record = await setup.tokens.get(digest(token))
        assert record is not None and record.is_sandbox


async def test_a_refresh_token_without_the_mark_gives_a_sandbox_key_marked_tokens():
    """A refresh token written before the mark existed: the client decides, not the record."""
    setup = Setup()
    key = sandbox_key(app_client())
    first = await setup.first_grant(key)
    assert first.refresh is not None
    unmarked = replace(first.refresh.record, is_sandbox=False)
    await setup.tokens.put([(first.refresh.key, unmarked)])
    second = await setup.refresh(key, refresh_of(first))
    record = await setup.tokens.get(digest(second.access.value))
    assert record is not None and record.is_sandbox
