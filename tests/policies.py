"""Policies for the tests, named in configuration as `tests.policies:<function>`.

The server runs in the test process, so the tests read `CALLS` to count password checks.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter

from authgate.policies import PolicyRequest
from tests.slapd import USERS as DIRECTORY

PASSWORDS = {"alice": "alice-password", "bob": "bob-password"}
SUBJECTS = {"alice": "subject-of-alice", "bob": "subject-of-bob"}

CALLS: Counter[str] = Counter()
_lock = threading.Lock()


def _count(name: str) -> None:
    with _lock:
        CALLS[name] += 1


def reset() -> None:
    with _lock:
        CALLS.clear()


def user(request: PolicyRequest) -> str | None:
    """A user policy: the subject for the right password, None otherwise."""
    _count("user")
    if request.username in PASSWORDS and PASSWORDS[request.username] == request.password:
        return SUBJECTS[request.username]
    return None


def directory(request: PolicyRequest) -> str | None:
    """A user policy that knows the people of the test directory (tests.slapd.USERS) and, like
    the local store and LDAP, gives the login name as the subject."""
    if request.username in DIRECTORY and DIRECTORY[request.username] == request.password:
        return request.username
    return None


async def slow_user(request: PolicyRequest) -> str | None:
    """An async user policy that takes a while, so concurrent attempts overlap."""
    _count("slow_user")
    await asyncio.sleep(0.05)
    if request.username in PASSWORDS and PASSWORDS[request.username] == request.password:
        return SUBJECTS[request.username]
    return None


def broken(request: PolicyRequest) -> object:
    """A policy whose dependency is down."""
    raise ConnectionError("the policy's backend is down")


def not_a_subject(request: PolicyRequest) -> object:
    return 42


def scopes_for_user(request: PolicyRequest) -> list[str]:
    """A scope policy: alice may read and write, everyone else only read; `none` gets none."""
    _count("scopes")
    if "none" in request.scopes:
        return []
    granted = ["read", "write"] if request.username == "alice" else ["read"]
    return [s for s in granted if not request.scopes or s in request.scopes]


def scopes_from_subject(request: PolicyRequest) -> list[str]:
    """Reports, as a scope, the subject found under the `custom.subject` attribute."""
    return [f"subject:{request.attributes.get('custom.subject')}"]


def scopes_for_client(request: PolicyRequest) -> tuple[str, ...]:
    """A scope policy for client credentials: the requested scopes plus `audit`."""
    return (*request.scopes, "audit")
