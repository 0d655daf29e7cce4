"""`users = "policy"`: a `package.module:function` authenticates resource owners."""

from __future__ import annotations

from collections.abc import MutableMapping
from types import MappingProxyType
from typing import Any

from authgate.errors import StoreUnavailable
from authgate.models import User
from authgate.policies import Policy, PolicyRequest, call_policy


class PolicyUsers:
    """The policy returns the subject (a string) or None to refuse."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    async def authenticate(
        self,
        username: str,
        password: str,
        *,
        client_id: str,
        attributes: MutableMapping[str, Any],
        scopes: tuple[str, ...] = (),
    ) -> User | None:
        request = PolicyRequest(
            username=username,
            password=password,
            client_id=client_id,
            scopes=scopes,
            attributes=MappingProxyType(dict(attributes)),
        )
        subject = await call_policy(self.policy, request)
        if subject is None or subject == "":
            return None
        if not isinstance(subject, str):
            # Neither a subject nor a refusal: the policy is broken, so give no verdict.
            raise StoreUnavailable("user policy", TypeError(type(subject).__name__))
        return User(username=username, subject=subject)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None
