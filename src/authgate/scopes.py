"""Which scopes a token gets: `any`, `all` or `policy` (SPEC.md, "Generate Token Scopes")."""

from __future__ import annotations

import re
from collections.abc import Iterable, MutableMapping
from types import MappingProxyType
from typing import Any

from authgate.config import FlowSettings
from authgate.errors import OAuthError
from authgate.models import Client
from authgate.policies import Policy, PolicyRequest, call_policy

# Scope-tokens (%x21 / %x23-5B / %x5D-7E) and the spaces between them.
_SCOPE_VALUE = re.compile(r"[\x21\x23-\x5B\x5D-\x7E ]*")


def parse_scope(value: str | None) -> tuple[str, ...]:
    """RFC 6749 section 3.3: space-delimited scope-tokens of %x21 / %x23-5B / %x5D-7E."""
    if not value:
        return ()
    if not _SCOPE_VALUE.fullmatch(value):
        raise OAuthError("invalid_scope", "a scope contains a character RFC 6749 forbids")
    return tuple(dict.fromkeys(s for s in value.split(" ") if s))


class ScopeResolver:
    """One flow's scope rule, with its policy already imported."""

    def __init__(self, settings: FlowSettings, policy: Policy | None) -> None:
        self.settings = settings
        self.policy = policy

    async def resolve(
        self,
        requested: tuple[str, ...],
        client: Client,
        attributes: MutableMapping[str, Any],
        *,
        username: str | None = None,
    ) -> tuple[str, ...]:
        if self.settings.scopes == "policy" and self.policy is not None:
            request = PolicyRequest(
                username=username,
                password=None,
                client_id=client.client_id,
                scopes=requested,
                attributes=MappingProxyType(dict(attributes)),
            )
            approved = await call_policy(self.policy, request)
            scopes = _as_scopes(approved)
            if not scopes:
                raise OAuthError("invalid_scope", "no requested scope was approved")
            attributes[self.settings.scopes_attribute] = scopes
            return scopes
        registered = client.scopes
        if not requested:
            return registered
        if self.settings.scopes == "all":
            missing = [s for s in requested if s not in registered]
            if missing:
                raise OAuthError("invalid_scope", "a requested scope is not registered")
            return requested
        granted = tuple(s for s in requested if s in registered)
        if not granted:
            raise OAuthError("invalid_scope", "no requested scope is registered for the client")
        return granted


def _as_scopes(value: Any) -> tuple[str, ...]:
    if value is None or isinstance(value, str):
        return parse_scope(value)
    if isinstance(value, Iterable):
        return tuple(dict.fromkeys(str(s) for s in value))
    return ()


def narrow(requested: tuple[str, ...], granted: tuple[str, ...]) -> tuple[str, ...]:
    """RFC 6749 section 6: a refresh may narrow the original scope, never widen it."""
    if not requested:
        return granted
    if any(s not in granted for s in requested):
        raise OAuthError("invalid_scope", "the requested scope exceeds the original grant")
    return requested
