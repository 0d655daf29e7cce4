"""Per-process cache of the current signing key and the published ones.

Signing and verifying read no registry row per request: the ring reloads only when the
registry's change counter moved (an embedded SQLite registry: another process rotated the
keys, seen at once), when `REFRESH` seconds passed (a server database, which other hosts may
change), or when a token names a key it does not know (at most once per `MISS_INTERVAL`).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry

from authgate.config import OidcSettings
from authgate.db.change_counter import ChangeCounter
from authgate.oidc.errors import InvalidToken
from authgate.oidc.signing_keys import PrivateKey, SigningKeys, StoredKey
from authgate.tokens import now

REFRESH = 5.0  # seconds a server registry's keys are trusted before a reload
MAX_AGE = 60.0  # seconds, even with a change counter: retired keys expire by the clock
MISS_INTERVAL = 1.0  # seconds between reloads caused by an unknown `kid`
ALGORITHMS = ("RS256", "ES256")  # never `none`, never HMAC
# What joserfc raises for a token that is not one of ours (malformed base64 and JSON too).
_BAD_TOKEN = (JoseError, ValueError, TypeError, KeyError)


@dataclass(frozen=True, slots=True)
class Loaded:
    current: PrivateKey
    current_alg: str
    published: KeySet
    stored: tuple[StoredKey, ...]
    state: int | None  # the change counter's value when loaded
    loaded_at: float  # time.monotonic()


class KeyRing:
    def __init__(
        self, keys: SigningKeys, settings: OidcSettings, counter: ChangeCounter | None
    ) -> None:
        self.keys = keys
        self.settings = settings
        self.counter = counter
        self._loaded: Loaded | None = None
        self._lock = asyncio.Lock()
        self._last_miss = 0.0

    def _is_fresh(self, loaded: Loaded) -> bool:
        age = time.monotonic() - loaded.loaded_at
        if self.counter is None:
            return age < REFRESH
        state = self.counter.stable()
        return state is not None and state == loaded.state and age < MAX_AGE

    async def load(self, *, force: bool = False) -> Loaded:
        loaded = self._loaded
        if loaded is not None and not force and self._is_fresh(loaded):
            return loaded
        async with self._lock:
            if self._loaded is not loaded and self._loaded is not None:
                return self._loaded  # another request reloaded meanwhile
            self._loaded = await self._read()
            return self._loaded

    async def _read(self) -> Loaded:
        state = self.counter.stable() if self.counter is not None else None
        stored = await self.keys.all()
        current = next((key for key in stored if key.retired_at is None), None)
        if current is None:  # first use: the first key
            current = await self.keys.add(
                self.settings.signing_alg,
                retire_others=False,
                retention=self.settings.key_retention,
            )
            stored = [current, *stored]
            state = None  # the counter moved with that insert: read again next time
        at = now()
        published = [key for key in stored if key.is_published(at, self.settings.key_retention)]
        return Loaded(
            current=self.keys.private_key(current),
            current_alg=current.alg,
            published=KeySet.import_key_set({"keys": [key.public_jwk for key in published]}),
            stored=tuple(published),
            state=state,
            loaded_at=time.monotonic(),
        )

    async def rotate(self) -> StoredKey:
        """A new current key (in `[oidc] signing_alg`); the previous ones start retiring."""
        key = await self.keys.add(
            self.settings.signing_alg, retire_others=True, retention=self.settings.key_retention
        )
        self._loaded = None
        return key

    async def jwks(self) -> dict[str, Any]:
        """The public keys, each with `kid`, `use` and `alg`."""
        loaded = await self.load()
        return {"keys": [key.public_jwk for key in loaded.stored]}

    async def sign(self, header: dict[str, Any], claims: dict[str, Any]) -> str:
        loaded = await self.load()
        header = {"alg": loaded.current_alg, "kid": loaded.current.kid, **header}
        return jwt.encode(header, claims, loaded.current, algorithms=ALGORITHMS)

    async def verify(self, value: str, claims: JWTClaimsRegistry | None = None) -> jwt.Token:
        """The decoded token, if a published key signed it and its claims pass `claims`
        (`exp` and `nbf` are checked whenever they are present)."""
        loaded = await self.load()
        try:
            token = jwt.decode(value, loaded.published, algorithms=ALGORITHMS)
        except _BAD_TOKEN as exc:
            if not self._is_unknown_kid(value, loaded):
                raise InvalidToken(str(exc)) from None
            loaded = await self.load(force=True)  # rotated in another process a moment ago?
            try:
                token = jwt.decode(value, loaded.published, algorithms=ALGORITHMS)
            except _BAD_TOKEN as exc:
                raise InvalidToken(str(exc)) from None
        try:
            (claims or JWTClaimsRegistry()).validate(token.claims)
        except _BAD_TOKEN as exc:
            raise InvalidToken(str(exc)) from None
        return token

    def _is_unknown_kid(self, value: str, loaded: Loaded) -> bool:
        try:
            kid = jws.extract_compact(value.encode()).headers().get("kid")
        except _BAD_TOKEN:
            return False
        if not isinstance(kid, str) or any(key.kid == kid for key in loaded.stored):
            return False
        if time.monotonic() - self._last_miss < MISS_INTERVAL:
            return False
        self._last_miss = time.monotonic()
        return True
