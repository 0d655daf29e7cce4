"""Developer portal applications and keys, called directly on a SQLite registry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from authgate.clients import ClientCredentials, verify_client
from authgate.config import Settings
from authgate.errors import OAuthError
from authgate.models import TokenRecord
from authgate.operations import Caller, Conflict, Invalid, NotFound, applications, parse
from authgate.services import Services
from authgate.tokens import digest, generate_token, new_grant_id, now

pytestmark = pytest.mark.anyio

ALICE = Caller("portal", "alice")
BOB = Caller("portal", "bob")
CALLBACK = "https://app.example/cb"


async def open_services(tmp_path: Path, portal: dict[str, Any]) -> Services:
    settings = Settings.model_validate(
        {
            "storage": {"url": f"sqlite:///{tmp_path / 'registry.db'}", "tokens": "memory://"},
            "portal": portal,
        }
    )
    return await Services.open(settings)


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[Services]:
    opened = await open_services(tmp_path, {"scopes": ["photos.read", "photos.write"]})
    try:
        yield opened
    finally:
        await opened.close()


def key_request(**extra: object) -> applications.KeyCreate:
    body = {"redirect_uris": [CALLBACK], "scopes": ["photos.read"]}
    return parse(applications.KeyCreate, {**body, **extra})


async def new_app(services: Services, caller: Caller = ALICE) -> str:
    request = applications.ApplicationCreate(name="Photo frame", description="shows photos")
    return (await applications.create_application(services, caller, request)).app_id


async def issue(services: Services, client_id: str) -> str:
    token = generate_token(40)
    record = TokenRecord(
        kind="access_token",
        client_id=client_id,
        grant_id=new_grant_id(),
        scopes=("photos.read",),
        issued_at=now(),
        expires_at=now() + 600,
        subject="carol",
        username="carol",
    )
    await services.tokens.put([(digest(token), record)])
    return digest(token)


async def test_an_application_starts_without_keys_and_belongs_to_its_creator(services):
    app_id = await new_app(services)
    shown = await applications.get_application(services, ALICE, app_id)
    assert (shown.owner, shown.name, shown.description) == ("alice", "Photo frame", "shows photos")
    assert shown.keys == {"production": None, "sandbox": None}
    assert [a.app_id for a in await applications.list_applications(services, "alice")] == [app_id]
    assert await applications.list_applications(services, "bob") == []


async def test_another_developer_finds_nothing_of_the_first(services):
    app_id = await new_app(services)
    await applications.create_key(services, ALICE, app_id, "sandbox", key_request())
    changes = applications.ApplicationChanges(name="mine now")
    attempts = [
        applications.get_application(services, BOB, app_id),
        applications.update_application(services, BOB, app_id, changes),
        applications.delete_application(services, BOB, app_id),
        applications.create_key(services, BOB, app_id, "production", key_request()),
        applications.get_key(services, BOB, app_id, "sandbox"),
        applications.update_key(services, BOB, app_id, "sandbox", applications.KeyChanges()),
        applications.rotate_key_secret(services, BOB, app_id, "sandbox"),
        applications.delete_key(services, BOB, app_id, "sandbox"),
    ]
    for attempt in attempts:
        with pytest.raises(NotFound):
            await attempt
    assert (await applications.get_application(services, ALICE, app_id)).name == "Photo frame"


async def test_a_key_is_a_confidential_client_of_its_environment(services):
    app_id = await new_app(services)
    key = await applications.create_key(services, ALICE, app_id, "sandbox", key_request())
    assert key.environment == "sandbox"
    client = await services.registry.get_client(key.client_id)
    assert client is not None
    assert (client.app_id, client.environment, client.is_sandbox) == (app_id, "sandbox", True)
    assert not client.is_public
    verify_client(client, ClientCredentials(key.client_id, key.client_secret, via_header=True))
    shown = await applications.get_application(services, ALICE, app_id)
    assert shown.keys["sandbox"] == applications.KeyView(
        **key.model_dump(exclude={"client_secret"})
    )
    assert key.client_secret not in shown.model_dump_json()


async def test_an_environment_has_one_set_of_keys(services):
    app_id = await new_app(services)
    await applications.create_key(services, ALICE, app_id, "production", key_request())
    with pytest.raises(Conflict):
        await applications.create_key(services, ALICE, app_id, "production", key_request())
    await applications.create_key(services, ALICE, app_id, "sandbox", key_request())


async def test_an_unknown_environment_is_not_found(services):
    app_id = await new_app(services)
    with pytest.raises(NotFound):
        await applications.create_key(services, ALICE, app_id, "staging", key_request())


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"grant_types": ["password"]}, "grant_types"),
        ({"scopes": ["authgate:portal"]}, "scopes"),
        ({"scopes": ["authgate:admin"]}, "scopes"),
        ({"scopes": ["payments"]}, "scopes"),
        ({"redirect_uris": [], "grant_types": ["authorization_code"]}, "redirect_uris"),
        ({"redirect_uris": ["not a url"]}, "redirect_uris"),
    ],
)
async def test_a_key_keeps_the_portal_rules(services, body, field):
    app_id = await new_app(services)
    with pytest.raises(Invalid) as raised:
        await applications.create_key(services, ALICE, app_id, "sandbox", key_request(**body))
    assert raised.value.field.split(".")[0] == field
    assert (await applications.get_application(services, ALICE, app_id)).keys["sandbox"] is None


async def test_a_change_keeps_the_portal_rules_too(services):
    app_id = await new_app(services)
    await applications.create_key(services, ALICE, app_id, "sandbox", key_request())
    changes: dict[str, Any]
    for changes in ({"scopes": ["payments"]}, {"grant_types": ["password"]}, {"redirect_uris": []}):
        with pytest.raises(Invalid):
            patch = parse(applications.KeyChanges, changes)
            await applications.update_key(services, ALICE, app_id, "sandbox", patch)
    patch = parse(applications.KeyChanges, {"scopes": ["photos.write"]})
    changed = await applications.update_key(services, ALICE, app_id, "sandbox", patch)
    assert (changed.scopes, changed.redirect_uris) == (["photos.write"], [CALLBACK])


async def test_any_scope_but_the_reserved_ones_when_the_portal_lists_none(tmp_path):
    services = await open_services(tmp_path, {})
    try:
        app_id = await new_app(services)
        key = await applications.create_key(
            services, ALICE, app_id, "production", key_request(scopes=["anything"])
        )
        assert key.scopes == ["anything"]
        with pytest.raises(Invalid):
            patch = parse(applications.KeyChanges, {"scopes": ["authgate:admin"]})
            await applications.update_key(services, ALICE, app_id, "production", patch)
    finally:
        await services.close()


async def test_regenerating_the_secret_stops_the_old_one_at_once(services):
    app_id = await new_app(services)
    key = await applications.create_key(services, ALICE, app_id, "sandbox", key_request())
    rotated = await applications.rotate_key_secret(services, ALICE, app_id, "sandbox")
    assert rotated.client_secret != key.client_secret
    client = await services.registry.get_client(key.client_id)
    with pytest.raises(OAuthError):
        verify_client(client, ClientCredentials(key.client_id, key.client_secret, via_header=True))
    verify_client(client, ClientCredentials(key.client_id, rotated.client_secret, via_header=True))


async def test_deleting_a_key_or_an_application_revokes_their_tokens(services):
    app_id = await new_app(services)
    sandbox = await applications.create_key(services, ALICE, app_id, "sandbox", key_request())
    production = await applications.create_key(services, ALICE, app_id, "production", key_request())
    sandbox_token = await issue(services, sandbox.client_id)
    production_token = await issue(services, production.client_id)
    assert await applications.delete_key(services, ALICE, app_id, "sandbox") == 1
    assert await services.tokens.get(sandbox_token) is None
    assert await services.tokens.get(production_token) is not None
    assert await applications.delete_application(services, ALICE, app_id) == 1
    assert await services.tokens.get(production_token) is None
    assert await services.registry.get_client(production.client_id) is None
    with pytest.raises(NotFound):
        await applications.get_application(services, ALICE, app_id)


async def test_renaming_an_application_renames_its_keys(services):
    app_id = await new_app(services)
    key = await applications.create_key(services, ALICE, app_id, "sandbox", key_request())
    changes = applications.ApplicationChanges(name="Album")
    changed = await applications.update_application(services, ALICE, app_id, changes)
    assert (changed.name, changed.description) == ("Album", "shows photos")
    client = await services.registry.get_client(key.client_id)
    assert client is not None and client.name == "Album (sandbox)"


async def test_the_administration_lists_every_owner(services):
    mine, theirs = await new_app(services, ALICE), await new_app(services, BOB)
    listed = {a.app_id: a.owner for a in await applications.list_applications(services)}
    assert listed == {mine: "alice", theirs: "bob"}


def test_reserved_scopes_cannot_be_offered_by_the_portal():
    with pytest.raises(ValueError, match="reserved"):
        Settings.model_validate({"portal": {"scopes": ["authgate:admin"]}})
