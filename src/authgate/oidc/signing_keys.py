"""The signing keys in the registry, their private halves sealed under the key file's secret.

`[oidc] key_file` holds one random secret, created on first use with mode 0600. Each private
JWK is sealed under it (sealing.py: AES-256-GCM, key by HKDF), so a copy of the database alone
signs nothing. Every change goes through the registry's change counter, so the key rings of
the other processes on the host reload at once (key_ring.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joserfc.jwk import ECKey, KeyParameters, RSAKey
from sqlalchemy import delete, insert, select, update

from authgate.config import SigningAlg
from authgate.db.schema import signing_keys
from authgate.errors import ConfigError
from authgate.registry import Registry
from authgate.sealing import seal, unseal
from authgate.tokens import now

PrivateKey = RSAKey | ECKey
RSA_BITS = 2048
SECRET_BYTES = 32


@dataclass(frozen=True, slots=True)
class StoredKey:
    """One row of `signing_keys`: the public JWK in clear, the private one sealed."""

    kid: str
    alg: SigningAlg
    public_jwk: dict[str, Any]
    sealed_private: str
    created_at: int
    retired_at: int | None

    def is_published(self, at: int, retention: int) -> bool:
        """Current, or replaced less than `retention` seconds ago."""
        return self.retired_at is None or self.retired_at + retention > at

    def as_public_dict(self, *, current: bool, published: bool) -> dict[str, Any]:
        """What `authgate keys list --json` prints: never the private key."""
        return {
            "kid": self.kid,
            "alg": self.alg,
            "created_at": self.created_at,
            "retired_at": self.retired_at,
            "current": current,
            "published": published,
        }


class KeyFile:
    """The secret the private keys are sealed under, read once per process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._secret: str | None = None

    def secret(self) -> str:
        if self._secret is None:
            self._secret = self._read() or self._create()
        return self._secret

    def _read(self) -> str | None:
        try:
            text = self.path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"oidc.key_file: {self.path} cannot be read: {exc}") from None
        if len(text) < 32:
            raise ConfigError(f"oidc.key_file: {self.path} holds no secret")
        return text

    def _create(self) -> str:
        """Write the secret to a private temporary file, then link it into place: a process
        that races this one finds either no file or a whole one, never half of it."""
        secret = secrets.token_urlsafe(SECRET_BYTES)
        temporary = self.path.with_name(f".{self.path.name}.{secrets.token_hex(8)}")
        try:
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w", encoding="ascii") as file:
                file.write(secret + "\n")
            try:
                os.link(temporary, self.path)
            except FileExistsError:
                return self._read() or secret  # another process was first: its secret wins
        except OSError as exc:
            raise ConfigError(f"oidc.key_file: {self.path} cannot be created: {exc}") from None
        finally:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
        return secret


def generate_key(alg: SigningAlg) -> PrivateKey:
    parameters: KeyParameters = {"use": "sig", "alg": alg}
    if alg == "ES256":
        return ECKey.generate_key("P-256", parameters=parameters, auto_kid=True)
    return RSAKey.generate_key(RSA_BITS, parameters=parameters, auto_kid=True)


class SigningKeys:
    """The `signing_keys` table: one owner for its statements."""

    def __init__(self, registry: Registry, key_file: KeyFile) -> None:
        self.registry = registry
        self.key_file = key_file

    def _changing(self) -> contextlib.AbstractContextManager[None]:
        counter = self.registry.client_changes
        return contextlib.nullcontext() if counter is None else counter.changing()

    async def all(self) -> list[StoredKey]:
        """Every stored key: the current one first, then the most recently retired."""
        async with self.registry.transaction() as conn:
            rows = (await conn.execute(select(signing_keys))).all()
        keys = [
            StoredKey(
                kid=row.kid,
                alg=row.alg,
                public_jwk=json.loads(row.public_key),
                sealed_private=row.private_key,
                created_at=row.created_at,
                retired_at=row.retired_at,
            )
            for row in rows
        ]
        # Not `created_at` alone: a key rotated within the second it was made ties with it.
        keys.sort(key=lambda k: (k.retired_at is None, k.retired_at or 0, k.created_at, k.kid))
        return keys[::-1]

    async def add(self, alg: SigningAlg, *, retire_others: bool, retention: int) -> StoredKey:
        """A new current key; with `retire_others`, the previous ones start their retention,
        and keys whose retention is over are deleted."""
        private = await asyncio.to_thread(generate_key, alg)
        sealed = seal(self.key_file.secret(), json.dumps(private.as_dict(private=True)).encode())
        created_at = now()
        key = StoredKey(
            kid=private.kid or "",
            alg=alg,
            public_jwk=private.as_dict(private=False),
            sealed_private=sealed,
            created_at=created_at,
            retired_at=None,
        )
        with self._changing():
            async with self.registry.transaction() as conn:
                if retire_others:
                    await conn.execute(
                        update(signing_keys)
                        .where(signing_keys.c.retired_at.is_(None))
                        .values(retired_at=created_at)
                    )
                    await conn.execute(
                        delete(signing_keys).where(
                            signing_keys.c.retired_at < created_at - retention
                        )
                    )
                await conn.execute(
                    insert(signing_keys).values(
                        kid=key.kid,
                        alg=key.alg,
                        public_key=json.dumps(key.public_jwk),
                        private_key=key.sealed_private,
                        created_at=key.created_at,
                        retired_at=None,
                    )
                )
        return key

    def private_key(self, key: StoredKey) -> PrivateKey:
        """Open the sealed private key with the key file's secret."""
        opened = unseal(self.key_file.secret(), key.sealed_private)
        if opened is None:
            raise ConfigError(
                f"oidc.key_file: {self.key_file.path} is not the file the signing keys were "
                "sealed with"
            )
        data = json.loads(opened)
        return ECKey.import_key(data) if key.alg == "ES256" else RSAKey.import_key(data)
