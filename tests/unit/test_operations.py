"""The administration's operations, called directly on a SQLite registry and memory tokens."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from authgate.clients import ClientCredentials, verify_client
from authgate.config import GatewayRoute, Settings
from authgate.errors import OAuthError
from authgate.gateway.route_updates import RouteUpdates
from authgate.models import TokenRecord
from authgate.operations import (
    Caller,
    Conflict,
    Invalid,
    NotFound,
    clients,
    consents,
    parse,
    routes,
    tokens,
    users,
)
from authgate.passwords import verify_password
from authgate.services import Services
from authgate.tokens import digest, generate_token, new_grant_id, now

pytestmark = pytest.mark.anyio

CLI = Caller("cli", "operator")
MANAGER = Caller("manager", "admin")
CONFIGURED = {"path": "/api/photos", "upstream": "http://127.0.0.1:9", "service": "photos"}


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[Services]:
    settings = Settings.model_validate(
        {
            "storage": {"url": f"sqlite:///{tmp_path / 'registry.db'}", "tokens": "memory://"},
            "gateway": {"routes": [CONFIGURED]},
        }
    )
    opened = await Services.open(settings)
    try:
        yield opened
    finally:
        await opened.close()


def confidential(**extra: object) -> clients.ClientCreate:
    body = {"name": "app", "redirect_uris": ["https://app.example/cb"], "scopes": ["read"]}
    return parse(clients.ClientCreate, {**body, **extra})


async def issue(services: Services, client_id: str, username: str | None) -> str:
    """Store an access token of the client for the user; returns its digest."""
    token = generate_token(40)
    record = TokenRecord(
        kind="access_token",
        client_id=client_id,
        grant_id=new_grant_id(),
        scopes=("read",),
        issued_at=now(),
        expires_at=now() + 600,
        subject=username or client_id,
        username=username,
    )
    await services.tokens.put([(digest(token), record)])
    return digest(token)


async def test_create_client_shows_the_secret_once_and_never_again(services: Services):
    created = await clients.create_client(services, CLI, confidential())
    assert created.client_secret
    shown = await clients.get_client(services, created.client_id)
    assert "client_secret" not in shown.model_dump()
    assert created.client_secret not in shown.model_dump_json()
    assert [c.client_id for c in await clients.list_clients(services)] == [created.client_id]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"public": True, "grant_types": ["client_credentials"]}, "grant_types"),
        ({"public": True, "introspect": True}, "introspect"),
        ({"redirect_uris": []}, "redirect_uris"),
        ({"redirect_uris": ["https://app.example/cb#frag"]}, "redirect_uris"),
        ({"scopes": ["two words"]}, "scopes"),
        ({"grant_types": ["implicit"]}, "grant_types.0"),
        ({"name": ""}, "name"),
        ({"colour": "blue"}, "colour"),
    ],
)
async def test_a_client_breaking_a_rule_is_invalid_naming_the_field(
    services: Services, body: dict[str, object], field: str
):
    with pytest.raises(Invalid) as caught:
        await clients.create_client(services, CLI, confidential(**body))
    assert caught.value.field == field
    assert await clients.list_clients(services) == []


async def test_reserved_scopes_are_for_operators_only(services: Services):
    with pytest.raises(Invalid) as caught:
        await clients.create_client(services, MANAGER, confidential(scopes=["authgate:admin"]))
    assert caught.value.field == "scopes"
    created = await clients.create_client(services, CLI, confidential(scopes=["authgate:admin"]))
    assert created.scopes == ["authgate:admin"]
    renamed = parse(clients.ClientChanges, {"name": "renamed"})  # keeps its reserved scope
    await clients.update_client(services, MANAGER, created.client_id, renamed)
    other = await clients.create_client(services, MANAGER, confidential())
    widened = parse(clients.ClientChanges, {"scopes": ["read", "authgate:portal"]})
    with pytest.raises(Invalid):
        await clients.update_client(services, MANAGER, other.client_id, widened)


async def test_update_is_a_merge_patch(services: Services):
    created = await clients.create_client(services, CLI, confidential())
    changes = parse(clients.ClientChanges, {"name": "renamed", "scopes": ["a", "b"]})
    updated = await clients.update_client(services, CLI, created.client_id, changes)
    assert (updated.name, updated.scopes) == ("renamed", ["a", "b"])
    assert updated.redirect_uris == created.redirect_uris  # left out: kept
    with pytest.raises(Invalid) as caught:
        parse(clients.ClientChanges, {"name": None})
    assert caught.value.field == "name"
    with pytest.raises(Invalid):  # the merged client must still keep the rules
        await clients.update_client(
            services, CLI, created.client_id, parse(clients.ClientChanges, {"redirect_uris": []})
        )
    with pytest.raises(NotFound):
        await clients.update_client(services, CLI, "nobody", changes)


async def test_rotation_with_grace_keeps_the_old_secret_until_it_ends(services: Services):
    created = await clients.create_client(services, CLI, confidential())
    old = created.client_secret
    assert old is not None
    rotated = await clients.rotate_secret(
        services, CLI, created.client_id, clients.SecretRotation(grace=60)
    )

    async def works(secret: str) -> bool:
        client = await services.registry.get_client(created.client_id)
        try:
            verify_client(client, ClientCredentials(created.client_id, secret, via_header=True))
        except OAuthError:
            return False
        return True

    assert await works(rotated.client_secret)
    assert await works(old)
    await services.registry.update_client(
        created.client_id, previous_secret_expires_at=int(time.time()) - 1
    )
    assert not await works(old)
    assert await works(rotated.client_secret)

    again = await clients.rotate_secret(services, CLI, created.client_id, clients.SecretRotation())
    assert not await works(rotated.client_secret)  # no grace: the old secret stops now
    assert await works(again.client_secret)


async def test_rotating_a_public_clients_secret_is_a_conflict(services: Services):
    created = await clients.create_client(
        services, CLI, confidential(public=True, grant_types=["authorization_code"])
    )
    with pytest.raises(Conflict):
        await clients.rotate_secret(services, CLI, created.client_id, clients.SecretRotation())


async def test_deleting_a_client_revokes_its_tokens(services: Services):
    created = await clients.create_client(services, CLI, confidential())
    key = await issue(services, created.client_id, "alice")
    assert await clients.delete_client(services, CLI, created.client_id) == 1
    assert await services.tokens.get(key) is None
    with pytest.raises(NotFound):
        await clients.delete_client(services, CLI, created.client_id)


async def test_users_are_listed_without_passwords_and_deleted_with_tokens_and_consents(
    services: Services,
):
    user = await users.create_user(
        services, CLI, users.UserCreate(username="alice", password="pw-of-alice")
    )
    assert user.model_dump() == {
        "username": "alice",
        "locked": False,
        "created_at": user.created_at,
    }
    with pytest.raises(Conflict):
        await users.create_user(services, CLI, users.UserCreate(username="alice", password="x"))
    assert "pw-of-alice" not in str([u.model_dump() for u in await users.list_users(services)])
    await services.registry.consents.remember_consent("alice", "app", ["read"])
    key = await issue(services, "app", "alice")
    other = await issue(services, "app", "bob")

    assert await users.delete_user(services, CLI, "alice") == 1

    assert await services.tokens.get(key) is None
    assert await services.tokens.get(other) is not None
    assert await services.registry.consents.remembered_scopes("alice", "app") == frozenset()
    with pytest.raises(NotFound):
        await users.get_user(services, "alice")


async def test_a_new_password_replaces_the_old_one(services: Services):
    await users.create_user(services, CLI, users.UserCreate(username="alice", password="old"))
    await users.update_user(services, CLI, "alice", users.UserChanges(password="new"))
    assert await services.registry.user_password_hash("alice") is not None
    stored = await services.registry.user_password_hash("alice")
    assert await verify_password("new", stored)
    assert not await verify_password("old", stored)


async def test_a_locked_user_shows_locked_until_unlocked(services: Services):
    await users.create_user(services, CLI, users.UserCreate(username="alice", password="pw"))
    for _ in range(services.settings.lockout.max_failures):
        await services.lockout.reserve("alice")
        await services.lockout.failed("alice")
    assert (await users.get_user(services, "alice")).locked
    assert await users.unlock_user(services, CLI, "alice")
    assert not (await users.get_user(services, "alice")).locked


async def test_unlocking_a_name_without_a_canonical_form_lifts_nothing(services: Services):
    # Such a name is never counted by the lockout; the API answered 500 for it.
    assert not await users.unlock_user(services, CLI, "\x00bad")


async def test_withdrawing_a_consent_revokes_that_clients_tokens_for_that_user(
    services: Services,
):
    await users.create_user(services, CLI, users.UserCreate(username="alice", password="pw"))
    await services.registry.consents.remember_consent("alice", "app", ["read"])
    await services.registry.consents.remember_consent("alice", "other", ["read"])
    of_app, of_other = (
        await issue(services, "app", "alice"),
        await issue(services, "other", "alice"),
    )
    listed = await consents.list_consents(services, "alice")
    assert [(c.client_id, c.scopes) for c in listed] == [("app", ["read"]), ("other", ["read"])]

    assert await consents.withdraw_consent(services, CLI, "alice", "app") == 1

    assert await services.tokens.get(of_app) is None
    assert await services.tokens.get(of_other) is not None
    assert [c.client_id for c in await consents.list_consents(services, "alice")] == ["other"]
    with pytest.raises(NotFound):
        await consents.withdraw_consent(services, CLI, "alice", "app")
    with pytest.raises(NotFound):
        await consents.list_consents(services, "nobody")


async def test_tokens_are_revoked_by_client_by_user_or_by_both(services: Services):
    keys = [await issue(services, c, u) for c in ("a", "b") for u in ("alice", "bob")]
    both = parse(tokens.TokenRevocation, {"client_id": "a", "username": "alice"})
    assert (await tokens.revoke_tokens(services, CLI, both)).revoked == 1
    by_user = parse(tokens.TokenRevocation, {"username": "bob"})
    assert (await tokens.revoke_tokens(services, CLI, by_user)).revoked == 2
    by_client = parse(tokens.TokenRevocation, {"client_id": "b"})
    assert (await tokens.revoke_tokens(services, CLI, by_client)).revoked == 1
    assert [await services.tokens.get(k) for k in keys] == [None] * 4
    with pytest.raises(Invalid):
        parse(tokens.TokenRevocation, {})


async def test_routes_of_both_sources_are_listed_and_only_registry_routes_change(
    services: Services,
):
    version = await services.registry.routes.version()
    orders = GatewayRoute(path="/api/orders", upstream="http://127.0.0.1:9", service="orders")
    added = await routes.add_route(services, CLI, orders)
    assert added.source == "api"
    assert await services.registry.routes.version() > version
    listed = {r.service_name: r.source for r in await routes.list_routes(services)}
    assert listed == {"photos": "config", "orders": "api"}

    moved = orders.model_copy(update={"path": "/api/v2/orders"})
    assert (await routes.replace_route(services, CLI, "orders", moved)).path == "/api/v2/orders"
    assert (await routes.get_route(services, "orders")).path == "/api/v2/orders"

    for clash in (
        orders.model_copy(update={"path": "/api/photos", "service": "other"}),  # config path
        orders.model_copy(update={"service": "photos", "path": "/x"}),  # config name
        orders.model_copy(update={"path": "/y"}),  # name in the registry
        orders.model_copy(update={"service": "twin", "path": "/api/v2/orders"}),  # path there
    ):
        with pytest.raises(Conflict):
            await routes.add_route(services, CLI, clash)
    with pytest.raises(Conflict):
        await routes.replace_route(services, CLI, "photos", orders)
    with pytest.raises(Conflict):
        await routes.delete_route(services, CLI, "photos")
    with pytest.raises(Invalid):
        await routes.add_route(services, CLI, orders.model_copy(update={"service": ""}))

    await routes.delete_route(services, CLI, "orders")
    with pytest.raises(NotFound):
        await routes.get_route(services, "orders")
    with pytest.raises(NotFound):
        await routes.delete_route(services, CLI, "orders")


async def test_every_change_is_an_audit_event_without_secrets(services: Services):
    seen: list[tuple[str, dict[str, object]]] = []
    services.events.subscribe(lambda name, fields: seen.append((name, dict(fields))))
    created = await clients.create_client(services, Caller("admin_api", "ops"), confidential())
    rotated = await clients.rotate_secret(
        services, CLI, created.client_id, clients.SecretRotation()
    )
    assert [name for name, _ in seen] == ["admin.client.create", "admin.client.rotate_secret"]
    assert seen[0][1] == {"face": "admin_api", "actor": "ops", "target": created.client_id}
    assert created.client_secret is not None
    assert created.client_secret not in repr(seen)
    assert rotated.client_secret not in repr(seen)


async def test_route_updates_apply_the_files_routes_then_the_registrys(services: Services):
    applied: list[list[str]] = []
    updates = RouteUpdates(services, lambda found: applied.append([r.path for r in found]))
    await updates.load()
    assert applied == [["/api/photos"]]
    orders = GatewayRoute(path="/api/orders", upstream="http://127.0.0.1:9", service="orders")
    await routes.add_route(services, CLI, orders)
    await updates.load()
    assert applied[-1] == ["/api/photos", "/api/orders"]
    assert updates.version == await services.registry.routes.version()
