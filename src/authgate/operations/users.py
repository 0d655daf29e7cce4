"""Local users (the Local User Store) and the manager's administrators."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from authgate.operations.base import Caller, Conflict, Invalid, Model, NotFound, audit, each_store
from authgate.registry import Account, AlreadyExists
from authgate.services import Services
from authgate.usernames import InvalidUsername

Username = Annotated[str, Field(min_length=1, max_length=255)]
Password = Annotated[str, Field(min_length=1, max_length=1024)]


class UserCreate(Model):
    username: Username
    password: Password


class UserChanges(Model):
    """A JSON merge patch of a user: today only a new password."""

    password: Password | None = None


class UserView(Model):
    """A user as every face shows it: never a password or its hash."""

    username: str
    locked: bool
    created_at: int


class AdminView(Model):
    username: str
    created_at: int


async def _account(services: Services, username: str) -> Account:
    account = await services.registry.find_user(username)
    if account is None:
        raise NotFound(f"no user {username}")
    return account


async def _view(services: Services, account: Account) -> UserView:
    locked = await services.lockout.is_locked(account.username)
    return UserView(username=account.username, locked=locked, created_at=account.created_at)


async def list_users(services: Services) -> list[UserView]:
    return [await _view(services, account) for account in await services.registry.list_users()]


async def get_user(services: Services, username: str) -> UserView:
    return await _view(services, await _account(services, username))


async def create_user(services: Services, caller: Caller, request: UserCreate) -> UserView:
    if await services.registry.find_user(request.username) is not None:
        raise Conflict(f"user {request.username} already exists")
    try:
        name = await services.registry.create_user(request.username, request.password)
    except AlreadyExists as exc:
        raise Conflict(str(exc)) from None
    except InvalidUsername as exc:
        raise Invalid("username", str(exc)) from None
    audit(services, caller, "user.create", name)
    return await get_user(services, name)


async def update_user(
    services: Services, caller: Caller, username: str, changes: UserChanges
) -> UserView:
    account = await _account(services, username)
    if changes.password is not None:
        if not await services.registry.set_user_password(account.username, changes.password):
            raise NotFound(f"no user {username}")
        audit(services, caller, "user.password", account.username)
    return await _view(services, account)


async def delete_user(services: Services, caller: Caller, username: str) -> int:
    """Remove the user, its consents and every token issued for it; how many tokens."""
    account = await _account(services, username)
    if not await services.registry.delete_user(account.username):
        raise NotFound(f"no user {username}")
    revoked = await each_store(services, lambda store: store.revoke_user(account.username))
    audit(services, caller, "user.delete", account.username)
    return revoked


async def unlock_user(services: Services, caller: Caller, username: str) -> bool:
    """Lift a brute-force lock; whether there was one. Any name may be locked, known or not
    (the lockout counts unknown names too), so this needs no local user."""
    try:
        lifted = await services.lockout.unlock(username)
    except InvalidUsername:
        return False  # a name without a canonical form is never counted, so never locked
    audit(services, caller, "user.unlock", username)
    return lifted


async def list_admins(services: Services) -> list[AdminView]:
    return [
        AdminView(username=a.username, created_at=a.created_at)
        for a in await services.registry.list_admins()
    ]


async def create_admin(services: Services, caller: Caller, request: UserCreate) -> AdminView:
    try:
        name = await services.registry.create_admin(request.username, request.password)
    except AlreadyExists as exc:
        raise Conflict(str(exc)) from None
    except InvalidUsername as exc:
        raise Invalid("username", str(exc)) from None
    audit(services, caller, "admin.create", name)
    for admin in await list_admins(services):
        if admin.username == name:
            return admin
    raise NotFound(f"no administrator {request.username}")  # deleted meanwhile


async def delete_admin(services: Services, caller: Caller, username: str) -> None:
    if not await services.registry.delete_admin(username):
        raise NotFound(f"no administrator {username}")
    audit(services, caller, "admin.delete", username)
