"""The code exchange on its own: binding, PKCE, single use, and what it issues."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from authgate.config import Settings
from authgate.errors import OAuthError
from authgate.flows.authorization_code import AuthorizationCodeFlow
from authgate.flows.pkce import s256
from authgate.models import Client
from authgate.stores import MemoryStore
from authgate.tokens import TokenGrant, digest
from tests.unit.flow_setup import (
    REDIRECT,
    VERIFIER,
    EventLog,
    anyio_backend,  # noqa: F401 - a fixture, asked for by name
    app_client,
    code_record,
    configure,
    sandbox_key,
    token_request,
)

pytestmark = pytest.mark.anyio

CODE = "c0de" * 8


class Setup:
    def __init__(self, settings: Settings | None = None, *, separate_stores: bool = False):
        self.tokens = MemoryStore()
        self.codes = MemoryStore() if separate_stores else self.tokens
        self.log = EventLog()
        settings = settings or configure()
        self.flow = AuthorizationCodeFlow(
            self.codes, self.tokens, settings.token_settings("authorization_code"), self.log.events
        )

    async def store_code(self, client: Client, **binding: Any) -> None:
        await self.codes.put([(digest(CODE), code_record(client, **binding))])

    async def exchange(self, client: Client, **params: str) -> TokenGrant:
        return await self.flow.run(token_request(client, code=CODE, **params))

    async def is_live(self, token: str) -> bool:
        record = await self.tokens.get(digest(token))
        return record is not None and not record.consumed


async def invalid_grant(exchange) -> OAuthError:
    with pytest.raises(OAuthError) as raised:
        await exchange
    assert raised.value.code == "invalid_grant"
    return raised.value


@pytest.mark.parametrize("separate_stores", [False, True], ids=["one_store", "code_store"])
async def test_a_code_is_exchanged_once_for_tokens_of_its_grant(separate_stores):
    setup = Setup(separate_stores=separate_stores)
    client = app_client()
    await setup.store_code(client, scopes=("read",))
    grant = await setup.exchange(client, redirect_uri=REDIRECT)
    body = grant.response()
    assert (body["token_type"], body["expires_in"], body["scope"]) == ("Bearer", 3600, "read")
    assert len(grant.access.value) == 54
    assert grant.refresh is not None and len(grant.refresh.value) == 46
    assert body["refresh_token"] == grant.refresh.value
    access = await setup.tokens.get(digest(grant.access.value))
    assert access is not None and access.grant_id == "grant-1"
    assert (access.subject, access.username) == ("subject-of-alice", "alice")
    code = await setup.codes.get(digest(CODE))
    assert code is not None and code.consumed
    assert setup.log.names() == ["token.issued"]


async def test_a_second_use_revokes_the_first_tokens_rfc6749_4_1_2():
    setup = Setup()
    client = app_client()
    await setup.store_code(client)
    grant = await setup.exchange(client, redirect_uri=REDIRECT)
    await invalid_grant(setup.exchange(client, redirect_uri=REDIRECT))
    assert not await setup.is_live(grant.access.value)
    assert grant.refresh is not None and not await setup.is_live(grant.refresh.value)
    assert setup.log.names() == ["token.issued", "code.reused"]


async def test_another_clients_code_is_invalid_grant_and_revokes_nothing():
    setup = Setup()
    client, thief = app_client(), app_client("thief")
    await setup.store_code(client)
    await invalid_grant(setup.exchange(thief, redirect_uri=REDIRECT))
    grant = await setup.exchange(client, redirect_uri=REDIRECT)  # still the owner's
    await invalid_grant(setup.exchange(thief, redirect_uri=REDIRECT))  # used, still not theirs
    assert await setup.is_live(grant.access.value)
    assert "code.reused" not in setup.log.names()


@pytest.mark.parametrize(
    ("bound", "presented"),
    [
        (REDIRECT, None),
        (REDIRECT, "https://app.example/other"),
        (None, "https://evil.example/callback"),  # omitted at first: only a registered one
    ],
    ids=["omitted", "different", "unregistered"],
)
async def test_redirect_uri_must_equal_the_authorization_requests_rfc6749_4_1_3(bound, presented):
    setup = Setup()
    client = app_client(redirect_uris=(REDIRECT, "https://app.example/other"))
    await setup.store_code(client, redirect_uri=bound)
    params = {} if presented is None else {"redirect_uri": presented}
    await invalid_grant(setup.exchange(client, **params))


async def test_an_omitted_redirect_uri_is_omitted_again_rfc6749_4_1_3():
    setup = Setup()
    client = app_client()
    await setup.store_code(client, redirect_uri=None)
    assert (await setup.exchange(client)).access.value


@pytest.mark.parametrize(
    ("challenge", "verifier"),
    [
        (s256(VERIFIER), None),
        (s256(VERIFIER), "w" * 43),
        (s256(VERIFIER), VERIFIER[:42]),  # too short to be a verifier at all
        (VERIFIER, VERIFIER),  # `plain` is not accepted
        (None, VERIFIER),  # RFC 9700 section 2.1.1: no verifier without a challenge
    ],
    ids=["missing", "wrong", "malformed", "plain", "unexpected"],
)
async def test_pkce_verifier_rfc7636_4_6(challenge, verifier):
    setup = Setup()
    client = app_client("spa", public=True)
    await setup.store_code(client, challenge=challenge)
    params = {"redirect_uri": REDIRECT} | ({} if verifier is None else {"code_verifier": verifier})
    await invalid_grant(setup.exchange(client, **params))


async def test_the_right_verifier_redeems_the_code_rfc7636_4_6():
    setup = Setup()
    client = app_client("spa", public=True)
    await setup.store_code(client, challenge=s256(VERIFIER))
    grant = await setup.exchange(client, redirect_uri=REDIRECT, code_verifier=VERIFIER)
    assert await setup.is_live(grant.access.value)


async def test_unknown_and_expired_codes_are_invalid_grant():
    setup = Setup()
    client = app_client()
    await invalid_grant(setup.exchange(client, redirect_uri=REDIRECT))
    await setup.store_code(client, expires_in=-1)
    await invalid_grant(setup.exchange(client, redirect_uri=REDIRECT))


async def test_a_refresh_token_is_no_code():
    setup = Setup()
    client = app_client()
    record = code_record(client)
    await setup.tokens.put([(digest(CODE), replace(record, kind="refresh_token"))])
    await invalid_grant(setup.exchange(client, redirect_uri=REDIRECT))


async def test_the_client_needs_the_grant_and_the_request_a_code():
    setup = Setup()
    with pytest.raises(OAuthError) as raised:
        await setup.exchange(app_client(grant_types=("password",)), redirect_uri=REDIRECT)
    assert raised.value.code == "unauthorized_client"
    with pytest.raises(OAuthError) as raised:
        await setup.flow.run(token_request(app_client()))
    assert raised.value.code == "invalid_request"


@pytest.mark.parametrize(
    ("mode", "grants", "with_refresh"),
    [
        ("new", ("authorization_code", "refresh_token"), True),
        ("preserve", ("authorization_code", "refresh_token"), True),
        ("none", ("authorization_code", "refresh_token"), False),
        ("new", ("authorization_code",), False),
    ],
)
async def test_refresh_token_per_the_flows_settings(mode, grants, with_refresh):
    setup = Setup(configure(flows={"authorization_code": {"tokens": {"refresh": mode}}}))
    client = app_client(grant_types=grants)
    await setup.store_code(client)
    grant = await setup.exchange(client, redirect_uri=REDIRECT)
    assert ("refresh_token" in grant.response()) is with_refresh


async def test_a_sandbox_keys_tokens_are_marked_as_such():
    setup = Setup()
    key = sandbox_key(app_client())
    await setup.store_code(key)  # the code itself carries no mark: the client decides
    grant = await setup.exchange(key, redirect_uri=REDIRECT)
    assert grant.refresh is not None
    for token in (grant.access.value, grant.refresh.value):
        record = await setup.tokens.get(digest(token))
        assert record is not None and record.is_sandbox
