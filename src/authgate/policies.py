"""User and scope policies: `package.module:function` callables, sync or async."""

from __future__ import annotations

import asyncio
import importlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from authgate.errors import ConfigError, StoreUnavailable
from authgate.monitoring import outbound_call

POLICY_TIMEOUT = 10.0  # seconds a policy may take before the request answers 503


@dataclass(frozen=True, slots=True)
class PolicyRequest:
    """The read-only request a policy sees."""

    username: str | None
    password: str | None
    client_id: str
    scopes: tuple[str, ...]
    attributes: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


Policy = Callable[[PolicyRequest], Any]


def load_policy(spec: str, key: str) -> Policy:
    """Import `package.module:function` at start; a failure names the configuration key."""
    module_name, _, function_name = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
        function = getattr(module, function_name)
    except Exception as exc:
        raise ConfigError(f"{key}: cannot import {spec!r}: {type(exc).__name__}: {exc}") from None
    if not callable(function):
        raise ConfigError(f"{key}: {spec!r} is not callable")
    policy: Policy = function
    return policy


async def call_policy(policy: Policy, request: PolicyRequest) -> Any:
    """Run a policy; one that raises or times out makes the request answer 503."""
    target = f"policy:{getattr(policy, '__module__', '')}.{getattr(policy, '__qualname__', '')}"
    async with outbound_call("policy", target):
        return await _run_policy(policy, request)


async def _run_policy(policy: Policy, request: PolicyRequest) -> Any:
    try:
        if inspect.iscoroutinefunction(policy):
            return await asyncio.wait_for(policy(request), POLICY_TIMEOUT)
        result = await asyncio.wait_for(asyncio.to_thread(policy, request), POLICY_TIMEOUT)
        if inspect.isawaitable(result):
            result = await asyncio.wait_for(result, POLICY_TIMEOUT)
        return result
    except Exception as exc:
        raise StoreUnavailable("policy", exc) from exc
