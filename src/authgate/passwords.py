"""Password hashing for local users and the manager's administrators: argon2id.

argon2id with OWASP's parameters (19 MiB, 2 passes, 1 lane): each verification holds its
memory for its duration, and the library default of 64 MiB per concurrent login would set the
size of a worker. Hashes made with other parameters still verify.
"""

from __future__ import annotations

import asyncio
import functools
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the account does not exist, so timing does not reveal who does."""
    return _hasher.hash(secrets.token_hex(16))


async def hash_password(password: str) -> str:
    """argon2id takes tens of milliseconds: off the event loop."""
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password: str, password_hash: str | None) -> bool:
    """True only for a stored hash that `password` matches; a missing hash costs the same."""

    def check() -> bool:
        try:
            return _hasher.verify(password_hash or _dummy_hash(), password) and bool(password_hash)
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)
