"""Client applications: list, show, register, change, rotate the secret, delete."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import Field, SerializerFunctionWrapHandler, field_validator, model_serializer

from authgate.certificates import registration
from authgate.clients import hash_secret, new_client_secret
from authgate.config import GrantType
from authgate.models import AuthMethod, Client
from authgate.operations.base import (
    RESERVED_SCOPES,
    Caller,
    Conflict,
    Invalid,
    Model,
    NotFound,
    audit,
    each_store,
)
from authgate.registry import AlreadyExists
from authgate.services import Services
from authgate.tokens import now

_CERTIFICATE_MEMBERS = ("auth_method", "tls_subject_dn", "tls_certificate")
MAX_GRACE = 30 * 86400  # seconds an old secret may keep working after a rotation
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")  # RFC 6749 section 3.3

Name = Annotated[str, Field(min_length=1, max_length=200)]
RedirectUri = Annotated[str, Field(min_length=1, max_length=2000)]
Scope = Annotated[str, Field(min_length=1, max_length=200)]


def _check_redirect_uris(uris: list[str] | None) -> list[str] | None:
    for uri in uris or ():
        if "#" in uri or "://" not in uri or any(c.isspace() for c in uri):
            raise ValueError(f"{uri!r} must be absolute, with no fragment or space")
    return uris


def _check_scopes(scopes: list[str] | None) -> list[str] | None:
    for scope in scopes or ():
        if not _SCOPE_TOKEN.fullmatch(scope):
            raise ValueError(f"{scope!r} is not an RFC 6749 scope token")
    return scopes


class ClientCreate(Model):
    """A client to register: the rules of `authgate client create`."""

    name: Name
    redirect_uris: list[RedirectUri] = Field(default_factory=list)
    scopes: list[Scope] = Field(default_factory=list)
    grant_types: list[GrantType] = Field(
        default=["authorization_code", "refresh_token"], min_length=1
    )
    public: bool = False
    introspect: bool = False
    # RFC 8705 section 2: a certificate instead of a secret (SPEC.md, TLS and mutual TLS).
    auth_method: AuthMethod = "secret"
    tls_subject_dn: str | None = Field(default=None, max_length=2000)
    tls_certificate: str | None = Field(default=None, max_length=20000)  # PEM

    _uris = field_validator("redirect_uris")(_check_redirect_uris)
    _scopes = field_validator("scopes")(_check_scopes)


class ClientChanges(Model):
    """A JSON merge patch (RFC 7396) of a client: a member given replaces that value, a list
    replaces the whole list; a member left out stays as it is."""

    name: Name | None = None
    redirect_uris: list[RedirectUri] | None = None
    scopes: list[Scope] | None = None
    grant_types: list[GrantType] | None = Field(default=None, min_length=1)
    introspect: bool | None = None

    _uris = field_validator("redirect_uris")(_check_redirect_uris)
    _scopes = field_validator("scopes")(_check_scopes)

    @field_validator("name", "grant_types", "introspect")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("may not be null: leave the member out to keep it")
        return value


class ClientView(Model):
    """A client as every face shows it: never its secret or a hash of it."""

    client_id: str
    name: str
    redirect_uris: list[str]
    scopes: list[str]
    grant_types: list[GrantType]
    public: bool
    introspect: bool
    created_at: int
    # Shown only for a client that authenticates with a certificate (RFC 8705 section 2).
    auth_method: AuthMethod = "secret"
    tls_subject_dn: str | None = None
    tls_certificate: str | None = None

    @model_serializer(mode="wrap")
    def _certificate_members_when_used(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if isinstance(data, dict) and data.get("auth_method") == "secret":
            for name in _CERTIFICATE_MEMBERS:
                data.pop(name, None)
        return data

    @classmethod
    def of(cls, client: Client) -> ClientView:
        return cls.model_validate(client.as_public_dict())


class NewClient(ClientView):
    """The answer to a registration: the secret is shown this once (confidential only)."""

    client_secret: str | None = None


class SecretRotation(Model):
    grace: int = Field(default=0, ge=0, le=MAX_GRACE)


class NewSecret(Model):
    """The answer to a rotation: the new secret, shown this once."""

    client_id: str
    client_secret: str


def check_client_rules(
    caller: Caller,
    *,
    redirect_uris: list[str],
    scopes: list[str],
    grant_types: list[GrantType],
    public: bool,
    introspect: bool,
    kept_scopes: tuple[str, ...] = (),
) -> None:
    """The rules a client keeps, on registration and after every change. `kept_scopes` are
    those the client had already: an operator's client stays editable by the manager as long
    as the change gives it no reserved scope."""
    if public and "client_credentials" in grant_types:
        raise Invalid("grant_types", "a public client cannot use client_credentials")
    if public and introspect:
        raise Invalid("introspect", "a public client cannot introspect")
    if "authorization_code" in grant_types and not redirect_uris:
        raise Invalid("redirect_uris", "authorization_code needs at least one redirect URI")
    if not caller.is_operator and RESERVED_SCOPES.intersection(scopes).difference(kept_scopes):
        raise Invalid("scopes", "authgate:admin and authgate:portal are reserved to operators")


async def list_clients(services: Services) -> list[ClientView]:
    return [ClientView.of(client) for client in await services.registry.list_clients()]


async def _client(services: Services, client_id: str) -> Client:
    client = await services.registry.get_client(client_id)
    if client is None:
        raise NotFound(f"no client {client_id}")
    return client


async def get_client(services: Services, client_id: str) -> ClientView:
    return ClientView.of(await _client(services, client_id))


async def create_client(
    services: Services,
    caller: Caller,
    request: ClientCreate,
    *,
    app_id: str | None = None,
    environment: str | None = None,
) -> NewClient:
    """Register a client; a developer portal key names its application and environment."""
    grant_types = list(dict.fromkeys(request.grant_types))
    check_client_rules(
        caller,
        redirect_uris=request.redirect_uris,
        scopes=request.scopes,
        grant_types=grant_types,
        public=request.public,
        introspect=request.introspect,
    )
    try:
        tls = registration(
            request.auth_method,
            subject_dn=request.tls_subject_dn,
            certificate=request.tls_certificate,
            public=request.public,
        )
    except ValueError as exc:
        raise Invalid("auth_method", str(exc)) from None
    try:
        client, secret = await services.registry.create_client(
            request.name,
            redirect_uris=request.redirect_uris,
            scopes=request.scopes,
            grant_types=grant_types,
            is_public=request.public,
            can_introspect=request.introspect,
            **tls,
            app_id=app_id,
            environment=environment,
        )
    except AlreadyExists as exc:
        raise Conflict(str(exc)) from None
    audit(services, caller, "client.create", client.client_id)
    return NewClient(**ClientView.of(client).model_dump(), client_secret=secret)


async def update_client(
    services: Services, caller: Caller, client_id: str, changes: ClientChanges
) -> ClientView:
    client = await _client(services, client_id)
    given = changes.model_dump(exclude_unset=True)
    merged = {**ClientView.of(client).model_dump(), **given}
    check_client_rules(
        caller,
        redirect_uris=merged["redirect_uris"],
        scopes=merged["scopes"],
        grant_types=merged["grant_types"],
        public=client.is_public,
        introspect=merged["introspect"],
        kept_scopes=client.scopes,
    )
    columns = {
        "name": merged["name"],
        "redirect_uris": tuple(dict.fromkeys(merged["redirect_uris"])),
        "scopes": tuple(dict.fromkeys(merged["scopes"])),
        "grant_types": tuple(dict.fromkeys(merged["grant_types"])),
        "can_introspect": merged["introspect"],
    }
    if not await services.registry.update_client(client_id, **columns):
        raise NotFound(f"no client {client_id}")
    audit(services, caller, "client.update", client_id)
    return await get_client(services, client_id)


async def rotate_secret(
    services: Services, caller: Caller, client_id: str, rotation: SecretRotation
) -> NewSecret:
    """A new secret now; the old one keeps working `grace` seconds more (0: it stops now)."""
    client = await _client(services, client_id)
    if client.is_public:
        raise Conflict(f"client {client_id} is public: it has no secret")
    if client.auth_method != "secret":
        raise Conflict(f"client {client_id} authenticates with a certificate: it has no secret")
    secret = new_client_secret()
    keep_old = rotation.grace > 0 and client.secret_hash is not None
    changed = await services.registry.update_client(
        client_id,
        secret_hash=hash_secret(secret),
        previous_secret_hash=client.secret_hash if keep_old else None,
        previous_secret_expires_at=now() + rotation.grace if keep_old else None,
    )
    if not changed:
        raise NotFound(f"no client {client_id}")
    audit(services, caller, "client.rotate_secret", client_id)
    return NewSecret(client_id=client_id, client_secret=secret)


async def delete_client(services: Services, caller: Caller, client_id: str) -> int:
    """Remove the client, its consents and every token and code issued to it; how many."""
    if not await services.registry.delete_client(client_id):
        raise NotFound(f"no client {client_id}")
    revoked = await each_store(services, lambda store: store.revoke_client(client_id))
    audit(services, caller, "client.delete", client_id)
    return revoked
