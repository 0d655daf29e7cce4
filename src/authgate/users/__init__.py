"""User repositories: who the resource owners are (`[flows.password] users`)."""

from __future__ import annotations

from authgate.config import Settings
from authgate.policies import load_policy
from authgate.registry import Registry
from authgate.users.base import UserRepository
from authgate.users.local import LocalUsers
from authgate.users.policy import PolicyUsers

__all__ = ["LocalUsers", "PolicyUsers", "UserRepository", "open_users"]


def open_users(settings: Settings, registry: Registry) -> UserRepository:
    """The repository `[flows.password] users` names; a policy is imported now, at start."""
    password = settings.flows.password
    if password.users == "ldap":
        from authgate.users.ldap import LdapUsers  # ldap3 is imported only when used

        return LdapUsers(settings.ldap)
    if password.users == "policy":
        return PolicyUsers(load_policy(password.policy, "flows.password.policy"))
    return LocalUsers(registry)
