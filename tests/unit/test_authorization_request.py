"""The authorization request flow on its own: checks, scopes, consent and the code it issues."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from authgate.config import Settings
from authgate.db import create_engine, migrate
from authgate.errors import OAuthError
from authgate.flows.authorization_request import (
    AuthorizationRequestFlow,
    ClientRedirect,
    PendingRequest,
    UntrustedRequest,
    as_decision,
)
from authgate.flows.pkce import s256
from authgate.forms import Form
from authgate.models import Client
from authgate.registry import Registry
from authgate.stores import MemoryStore
from authgate.tokens import digest
from tests.unit.flow_setup import (
    ISSUER,
    REDIRECT,
    VERIFIER,
    EventLog,
    anyio_backend,  # noqa: F401 - a fixture, asked for by name
    app_client,
    configure,
    form,
    resolver,
)

pytestmark = pytest.mark.anyio

OTHER_REDIRECT = "https://app.example/other"
CHALLENGE = s256(VERIFIER)


@pytest.fixture
async def registry(tmp_path: Path) -> AsyncIterator[Registry]:
    """The consents live in the registry: a real one, on SQLite."""
    engine = create_engine(f"sqlite:///{tmp_path}/registry.db")
    await migrate(engine)
    registry = Registry(engine)
    try:
        yield registry
    finally:
        registry.close()
        await engine.dispose()


class Setup:
    def __init__(self, registry: Registry, settings: Settings, *clients: Client) -> None:
        self.codes = MemoryStore()
        self.log = EventLog()
        self.clients = {client.client_id: client for client in clients}
        self.flow = AuthorizationRequestFlow(
            issuer=ISSUER,
            settings=settings.authorization_code,
            scopes=resolver(settings, "authorization_code"),
            codes=self.codes,
            find_client=self._find,
            consents=registry.consents,
            events=self.log.events,
        )

    async def _find(self, client_id: str) -> Client | None:
        return self.clients.get(client_id)

    async def pending(self, client: Client, **params: str) -> PendingRequest:
        query = {
            "response_type": "code",
            "client_id": client.client_id,
            "redirect_uri": REDIRECT,
        } | params
        request = form(**query)
        return await self.flow.check(await self.flow.target(request), request)


@pytest.fixture
def setup(registry: Registry) -> Setup:
    return Setup(
        registry,
        configure(),
        app_client(),
        app_client("spa", public=True),
        app_client("two", redirect_uris=(REDIRECT, OTHER_REDIRECT)),
        app_client("service", grant_types=("client_credentials",)),
    )


# Before the redirect URI is trusted: a page, never a redirect (RFC 6749 section 4.1.2.1)


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"client_id": "nobody", "redirect_uri": REDIRECT},
        {"client_id": "app", "redirect_uri": "https://evil.example/callback"},
        {"client_id": "app", "redirect_uri": REDIRECT + "/more"},  # exact match only
        {"client_id": "two"},  # two registered: the request must choose
    ],
    ids=["no_client", "unknown_client", "foreign_uri", "prefix_of_uri", "uri_omitted_of_two"],
)
async def test_an_untrusted_target_is_a_page_rfc6749_4_1_2_1(setup, query):
    with pytest.raises(UntrustedRequest):
        await setup.flow.target(form(**query))


async def test_a_repeated_client_id_or_redirect_uri_is_a_page_rfc6749_3_1(setup):
    for name, value in (("client_id", "app"), ("redirect_uri", REDIRECT)):
        pairs = [("client_id", "app"), ("redirect_uri", REDIRECT), (name, value)]
        with pytest.raises(UntrustedRequest):
            await setup.flow.target(Form(pairs))


async def test_one_registered_redirect_uri_may_be_omitted_rfc6749_3_1_2_3(setup):
    target = await setup.flow.target(form(client_id="app"))
    assert (target.redirect_uri, target.redirect_uri_given) == (REDIRECT, False)
    target = await setup.flow.target(form(client_id="two", redirect_uri=OTHER_REDIRECT))
    assert (target.redirect_uri, target.redirect_uri_given) == (OTHER_REDIRECT, True)


# After it: OAuth errors, which the endpoint redirects


@pytest.mark.parametrize(
    ("client_id", "params", "error"),
    [
        ("app", {"response_type": ""}, "invalid_request"),
        ("app", {"response_type": "token"}, "unsupported_response_type"),
        ("spa", {}, "invalid_request"),  # a public client must use PKCE
        ("app", {"code_challenge": CHALLENGE, "code_challenge_method": "plain"}, "invalid_request"),
        ("app", {"code_challenge": CHALLENGE}, "invalid_request"),  # plain by default
        ("app", {"code_challenge_method": "S256"}, "invalid_request"),
        ("app", {"code_challenge": "short", "code_challenge_method": "S256"}, "invalid_request"),
        ("app", {"scope": "admin"}, "invalid_scope"),
        ("app", {"scope": 'read "quoted"'}, "invalid_scope"),
    ],
    ids=[
        "no_response_type",
        "token_response_type",
        "public_without_pkce",
        "plain_method",
        "no_method",
        "no_challenge",
        "malformed_challenge",
        "unregistered_scope",
        "forbidden_scope_character",
    ],
)
async def test_request_errors_rfc6749_4_1_2_1_rfc7636_4_4_1(setup, client_id, params, error):
    client = setup.clients[client_id]
    with pytest.raises(OAuthError) as raised:
        await setup.pending(client, **params)
    assert raised.value.code == error


async def test_a_client_without_the_grant_is_unauthorized(registry):
    service = app_client("service", grant_types=("client_credentials",))
    setup = Setup(registry, configure(), service)
    with pytest.raises(OAuthError) as raised:
        await setup.pending(service)
    assert raised.value.code == "unauthorized_client"


async def test_a_repeated_parameter_is_invalid_request_rfc6749_3_1(setup):
    request = Form(
        [
            ("response_type", "code"),
            ("client_id", "app"),
            ("redirect_uri", REDIRECT),
            ("state", "a"),
            ("state", "b"),
        ]
    )
    target = await setup.flow.target(request)
    with pytest.raises(OAuthError) as raised:
        await setup.flow.check(target, request)
    assert raised.value.code == "invalid_request"


async def test_pkce_always_asks_confidential_clients_too(registry):
    setup = Setup(registry, configure(authorization_code={"pkce": "always"}), app_client())
    with pytest.raises(OAuthError):
        await setup.pending(setup.clients["app"])
    pending = await setup.pending(
        setup.clients["app"], code_challenge=CHALLENGE, code_challenge_method="S256"
    )
    assert pending.code_challenge == CHALLENGE


async def test_a_checked_request_keeps_what_the_code_needs(setup):
    pending = await setup.pending(
        setup.clients["spa"],
        scope="read",
        state="xyz",
        code_challenge=CHALLENGE,
        code_challenge_method="S256",
    )
    assert pending.client_id == "spa"
    assert (pending.redirect_uri, pending.redirect_uri_given) == (REDIRECT, True)
    assert (pending.state, pending.requested, pending.scopes) == ("xyz", ("read",), ("read",))
    assert pending.code_challenge == CHALLENGE
    assert PendingRequest.from_dict(pending.to_dict()) == pending  # kept in a session as JSON
    assert not pending.is_expired(pending.created_at + 60)
    assert pending.is_expired(pending.created_at + 30 * 60)


# Scopes: `any`, `all`, no scope, and a policy that waits for the user


@pytest.mark.parametrize(
    ("rule", "requested", "granted"),
    [
        ("any", "read admin", ("read",)),
        ("any", "", ("read", "write")),
        ("all", "read write", ("read", "write")),
        ("all", "read admin", None),
    ],
)
async def test_scope_rules(registry, rule, requested, granted):
    settings = configure(flows={"authorization_code": {"scopes": rule}})
    setup = Setup(registry, settings, app_client())
    if granted is None:
        with pytest.raises(OAuthError) as raised:
            await setup.pending(setup.clients["app"], scope=requested)
        assert raised.value.code == "invalid_scope"
    else:
        pending = await setup.pending(setup.clients["app"], scope=requested)
        assert pending.scopes == granted


async def test_a_scope_policy_decides_once_the_user_is_known(registry):
    settings = configure(
        flows={
            "authorization_code": {
                "scopes": "policy",
                "scopes_policy": "tests.policies:scopes_for_user",
            }
        }
    )
    client = app_client()
    setup = Setup(registry, settings, client)
    pending = await setup.pending(client, scope="read write")
    assert pending.scopes is None
    assert (await setup.flow.resolve_scopes(pending, client, "alice")).scopes == ("read", "write")
    assert (await setup.flow.resolve_scopes(pending, client, "bob")).scopes == ("read",)
    with pytest.raises(OAuthError) as raised:
        await setup.flow.resolve_scopes(await setup.pending(client, scope="none"), client, "bob")
    assert raised.value.code == "invalid_scope"


# The code and the redirect back


def params_of(answer: ClientRedirect) -> dict[str, str]:
    query = parse_qs(urlsplit(answer.location).query, keep_blank_values=True)
    return {name: values[0] for name, values in query.items()}


async def test_the_code_is_bound_single_use_material_rfc6749_4_1_2(setup):
    pending = await setup.pending(
        setup.clients["spa"],
        scope="read",
        state="s1",
        code_challenge=CHALLENGE,
        code_challenge_method="S256",
    )
    answer = await setup.flow.issue_code(pending, username="alice", subject="sub-alice")
    params = params_of(answer)
    assert answer.location.startswith(REDIRECT + "?")
    assert (params["state"], params["iss"]) == ("s1", ISSUER)  # RFC 9207
    code = params["code"]
    assert len(code) == 30 and code.isalnum()
    assert await setup.codes.get(code) is None  # stored by its digest only
    record = await setup.codes.get(digest(code))
    assert record is not None
    assert (record.kind, record.client_id, record.scopes) == (
        "authorization_code",
        "spa",
        ("read",),
    )
    assert (record.subject, record.username) == ("sub-alice", "alice")
    assert (record.redirect_uri, record.code_challenge) == (REDIRECT, CHALLENGE)
    assert record.expires_at - record.issued_at == 600
    assert setup.log.names() == ["code.issued"]


async def test_an_omitted_redirect_uri_is_not_bound(setup):
    request = form(response_type="code", client_id="app")
    pending = await setup.flow.check(await setup.flow.target(request), request)
    answer = await setup.flow.issue_code(pending, username="alice", subject="alice")
    record = await setup.codes.get(digest(params_of(answer)["code"]))
    assert record is not None and record.redirect_uri is None


async def test_code_length_and_expiry_follow_the_settings(registry):
    settings = configure(authorization_code={"code_length": 40, "code_expiry": 60})
    setup = Setup(registry, settings, app_client())
    pending = await setup.pending(setup.clients["app"])
    code = params_of(await setup.flow.issue_code(pending, username="a", subject="a"))["code"]
    record = await setup.codes.get(digest(code))
    assert len(code) == 40
    assert record is not None and record.expires_at - record.issued_at == 60


def test_a_registered_query_is_kept_and_state_and_iss_are_added():
    answer = ClientRedirect("https://app.example/cb?tenant=7", {"code": "c", "state": "s&t"})
    assert answer.location == "https://app.example/cb?tenant=7&code=c&state=s%26t"


async def test_an_error_redirect_carries_state_and_iss(setup):
    answer = setup.flow.error(REDIRECT, "s1", OAuthError("invalid_scope", "no scope"))
    assert params_of(answer) == {
        "error": "invalid_scope",
        "error_description": "no scope",
        "state": "s1",
        "iss": ISSUER,
    }
    assert "state" not in params_of(setup.flow.error(REDIRECT, None, OAuthError("access_denied")))


# Consent


async def test_deny_is_access_denied_and_issues_no_code(setup):
    pending = await setup.pending(setup.clients["app"], state="s1")
    answer = await setup.flow.decide(pending, "deny", username="alice", subject="alice")
    assert params_of(answer) == {
        "error": "access_denied",
        "error_description": "the resource owner denied the request",
        "state": "s1",
        "iss": ISSUER,
    }
    assert setup.log.names() == ["consent.denied"]
    assert not await setup.flow.is_remembered(pending, "alice")


async def test_approve_once_issues_a_code_and_remembers_nothing(setup):
    pending = await setup.pending(setup.clients["app"], scope="read")
    answer = await setup.flow.decide(pending, "approve_once", username="alice", subject="alice")
    assert "code" in params_of(answer)
    assert setup.log.names() == ["consent.granted", "code.issued"]
    assert not await setup.flow.is_remembered(pending, "alice")


async def test_approve_always_covers_the_same_or_a_smaller_scope_set(setup, registry):
    client = setup.clients["app"]
    both = await setup.pending(client, scope="read write")
    await setup.flow.decide(both, "approve_always", username="alice", subject="alice")
    assert await setup.flow.is_remembered(both, "alice")
    assert await setup.flow.is_remembered(await setup.pending(client, scope="read"), "alice")
    assert not await setup.flow.is_remembered(both, "bob")
    other = Setup(registry, configure(), app_client("other"))
    assert not await other.flow.is_remembered(await other.pending(other.clients["other"]), "alice")


async def test_approve_always_does_not_cover_a_wider_set(setup):
    client = setup.clients["app"]
    read = await setup.pending(client, scope="read")
    await setup.flow.decide(read, "approve_always", username="alice", subject="alice")
    assert not await setup.flow.is_remembered(
        await setup.pending(client, scope="read write"), "alice"
    )


def test_only_the_three_decisions_are_decisions():
    assert [as_decision(v) for v in ("approve_once", "approve_always", "deny")] == [
        "approve_once",
        "approve_always",
        "deny",
    ]
    assert as_decision("approve") is None and as_decision(None) is None
