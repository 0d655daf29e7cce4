"""Developer portal applications and their keys (SPEC.md, "Developer portal").

An application belongs to the developer who made it: every operation but the
administration's listing takes the caller as the owner, and another owner's application is
NotFound, as if it did not exist. Its keys, one per environment, are ordinary confidential
clients made, changed, rotated and deleted by operations.clients, so that there is one place
that creates clients; this module adds the portal's rules (`[portal] grant_types`,
`[portal] scopes`) on top of the rules every client keeps.
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field, field_validator

from authgate.application_registry import Application
from authgate.config import GrantType, PortalSettings
from authgate.models import Client
from authgate.monitoring.usage import Usage, token_usage
from authgate.operations import clients
from authgate.operations.base import (
    RESERVED_SCOPES,
    Caller,
    Invalid,
    Model,
    NotFound,
    audit,
    parse,
)
from authgate.operations.clients import Name, RedirectUri, Scope
from authgate.services import Services
from authgate.tokens import now

Environment = Literal["production", "sandbox"]
ENVIRONMENTS: tuple[Environment, ...] = get_args(Environment)

MAX_DESCRIPTION = 2000


class ApplicationCreate(Model):
    name: Name
    description: str = Field(default="", max_length=MAX_DESCRIPTION)


class ApplicationChanges(Model):
    """A JSON merge patch (RFC 7396) of an application's name and description."""

    name: Name | None = None
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION)

    @field_validator("name", "description")
    @classmethod
    def _not_null(cls, value: str | None) -> str:
        if value is None:
            raise ValueError("may not be null: leave the member out to keep it")
        return value


class KeyCreate(Model):
    """The keys of one environment: a confidential client with these settings."""

    redirect_uris: list[RedirectUri] = Field(default_factory=list)
    grant_types: list[GrantType] = Field(
        default=["authorization_code", "refresh_token"], min_length=1
    )
    scopes: list[Scope] = Field(default_factory=list)


class KeyChanges(Model):
    """A JSON merge patch of a key: a list given replaces the whole list."""

    redirect_uris: list[RedirectUri] | None = None
    grant_types: list[GrantType] | None = Field(default=None, min_length=1)
    scopes: list[Scope] | None = None

    @field_validator("redirect_uris", "grant_types", "scopes")
    @classmethod
    def _not_null(cls, value: list[str] | None) -> list[str]:
        if value is None:
            raise ValueError("may not be null: leave the member out to keep it")
        return value


class KeyView(Model):
    """A key as every face shows it: never its secret."""

    client_id: str
    environment: str
    redirect_uris: list[str]
    grant_types: list[str]
    scopes: list[str]
    created_at: int

    @classmethod
    def of(cls, client: Client) -> KeyView:
        return cls(
            client_id=client.client_id,
            environment=client.environment or "",
            redirect_uris=list(client.redirect_uris),
            grant_types=list(client.grant_types),
            scopes=list(client.scopes),
            created_at=client.created_at,
        )


class NewKey(KeyView):
    """The answer to Generate keys: the secret is shown this once."""

    client_secret: str


class ApplicationView(Model):
    app_id: str
    name: str
    description: str
    owner: str
    created_at: int
    keys: dict[str, KeyView | None]

    @classmethod
    def of(cls, application: Application, keys: list[Client]) -> ApplicationView:
        found = {key.environment: KeyView.of(key) for key in keys}
        return cls(
            app_id=application.app_id,
            name=application.name,
            description=application.description,
            owner=application.owner,
            created_at=application.created_at,
            keys={environment: found.get(environment) for environment in ENVIRONMENTS},
        )


class UsageView(Model):
    """Gateway calls made with the tokens of both keys over USAGE_WINDOW seconds."""

    requests: int
    users: int
    services: dict[str, int]


USAGE_WINDOW = 86400  # seconds: the last 24 hours


def check_portal_rules(
    settings: PortalSettings, *, grant_types: list[GrantType], scopes: list[str]
) -> None:
    """What a developer may ask for, besides the rules of every client."""
    for grant_type in grant_types:
        if grant_type not in settings.grant_types:
            raise Invalid("grant_types", f"{grant_type} is not offered by this portal")
    for scope in scopes:
        if scope in RESERVED_SCOPES:
            raise Invalid("scopes", f"{scope} is reserved to operators")
        if settings.scopes and scope not in settings.scopes:
            raise Invalid("scopes", f"{scope} is not offered by this portal")


def _environment(environment: str) -> Environment:
    for known in ENVIRONMENTS:
        if environment == known:
            return known
    raise NotFound(f"no environment {environment}: production or sandbox")


async def _own(services: Services, caller: Caller, app_id: str) -> Application:
    """The caller's application; another developer's is NotFound, like a missing one."""
    application = await services.registry.applications.get(app_id)
    if application is None or application.owner != caller.name:
        raise NotFound(f"no application {app_id}")
    return application


async def _key(services: Services, application: Application, environment: str) -> Client:
    wanted = _environment(environment)
    for key in await services.registry.applications.keys([application.app_id]):
        if key.environment == wanted:
            return key
    raise NotFound(f"application {application.app_id} has no {wanted} keys")


async def _views(services: Services, found: list[Application]) -> list[ApplicationView]:
    keys = await services.registry.applications.keys([a.app_id for a in found])
    return [
        ApplicationView.of(application, [k for k in keys if k.app_id == application.app_id])
        for application in found
    ]


async def list_applications(services: Services, owner: str | None = None) -> list[ApplicationView]:
    """Every developer's applications (the administration), or one owner's."""
    return await _views(services, await services.registry.applications.find(owner))


async def get_application(services: Services, caller: Caller, app_id: str) -> ApplicationView:
    return (await _views(services, [await _own(services, caller, app_id)]))[0]


async def create_application(
    services: Services, caller: Caller, request: ApplicationCreate
) -> ApplicationView:
    created = await services.registry.applications.create(
        caller.name, request.name, request.description
    )
    audit(services, caller, "application.create", created.app_id)
    return ApplicationView.of(created, [])


async def update_application(
    services: Services, caller: Caller, app_id: str, changes: ApplicationChanges
) -> ApplicationView:
    application = await _own(services, caller, app_id)
    name = changes.name if changes.name is not None else application.name
    description = (
        changes.description if changes.description is not None else application.description
    )
    await services.registry.applications.update(app_id, name=name, description=description)
    for key in await services.registry.applications.keys([app_id]):
        if name != application.name:  # a key's client is named after its application
            await clients.update_client(
                services,
                caller,
                key.client_id,
                clients.ClientChanges(name=_key_name(name, key.environment or "")),
            )
    audit(services, caller, "application.update", app_id)
    return await get_application(services, caller, app_id)


async def delete_application(services: Services, caller: Caller, app_id: str) -> int:
    """Remove the application and its keys, revoking every token of them; how many."""
    await _own(services, caller, app_id)
    revoked = 0
    for key in await services.registry.applications.keys([app_id]):
        revoked += await clients.delete_client(services, caller, key.client_id)
    await services.registry.applications.delete(app_id)
    audit(services, caller, "application.delete", app_id)
    return revoked


def _key_name(application_name: str, environment: str) -> str:
    return f"{application_name} ({environment})"[:200]


async def create_key(
    services: Services, caller: Caller, app_id: str, environment: str, request: KeyCreate
) -> NewKey:
    """Generate keys: a confidential client for the environment; Conflict if it has one."""
    application = await _own(services, caller, app_id)
    wanted = _environment(environment)
    check_portal_rules(
        services.settings.portal, grant_types=request.grant_types, scopes=request.scopes
    )
    client = parse(
        clients.ClientCreate,
        {"name": _key_name(application.name, wanted), **request.model_dump()},
    )
    created = await clients.create_client(
        services, caller, client, app_id=app_id, environment=wanted
    )
    key = await _key(services, application, wanted)
    assert created.client_secret is not None  # noqa: S101 - a key is a confidential client
    return NewKey(**KeyView.of(key).model_dump(), client_secret=created.client_secret)


async def get_key(services: Services, caller: Caller, app_id: str, environment: str) -> KeyView:
    return KeyView.of(await _key(services, await _own(services, caller, app_id), environment))


async def update_key(
    services: Services, caller: Caller, app_id: str, environment: str, changes: KeyChanges
) -> KeyView:
    key = await _key(services, await _own(services, caller, app_id), environment)
    given = changes.model_dump(exclude_unset=True)
    check_portal_rules(
        services.settings.portal,
        grant_types=given.get("grant_types", list(key.grant_types)),
        scopes=given.get("scopes", list(key.scopes)),
    )
    await clients.update_client(
        services, caller, key.client_id, parse(clients.ClientChanges, given)
    )
    return await get_key(services, caller, app_id, environment)


async def rotate_key_secret(
    services: Services, caller: Caller, app_id: str, environment: str
) -> clients.NewSecret:
    """Regenerate secret: the old one stops working at once (no grace)."""
    key = await _key(services, await _own(services, caller, app_id), environment)
    return await clients.rotate_secret(services, caller, key.client_id, clients.SecretRotation())


async def delete_key(services: Services, caller: Caller, app_id: str, environment: str) -> int:
    """Remove the key and revoke every token issued to it; how many."""
    key = await _key(services, await _own(services, caller, app_id), environment)
    return await clients.delete_client(services, caller, key.client_id)


async def usage_detail(services: Services, caller: Caller, app_id: str) -> Usage:
    """Requests and distinct users, in all and per service, over the last 24 hours."""
    await _own(services, caller, app_id)
    keys = await services.registry.applications.keys([app_id])
    since_ms = (now() - USAGE_WINDOW) * 1000
    return await token_usage(services.registry.engine, [key.client_id for key in keys], since_ms)


async def usage(services: Services, caller: Caller, app_id: str) -> UsageView:
    """Requests, distinct users and requests per service over the last 24 hours."""
    found = await usage_detail(services, caller, app_id)
    return UsageView(requests=found.requests, users=found.users, services=found.services)
