"""Signing keys on every registry database: stored, sealed, rotated, seen by another process.

Two `Services` on one database stand for two server processes. On SQLite the change counter
shows a rotation at once; a server database is re-read after `key_ring.REFRESH` seconds, and
a token naming an unknown key is verified at once.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from authgate.config import Settings
from authgate.oidc import key_ring
from authgate.services import Services
from tests.backends import fresh_database as fresh_database  # a fixture, asked for by name


def test_rotation_reaches_another_process_on_every_registry(
    fresh_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(key_ring, "REFRESH", 0.5)
    settings = Settings.model_validate(
        {"storage": {"url": fresh_database}, "oidc": {"key_file": str(tmp_path / "k.key")}}
    )

    async def scenario() -> None:
        here = await Services.open(settings)
        there = await Services.open(settings)
        try:
            await here.migrate()
            old = await here.oidc.ring.sign({}, {"sub": "alice"})
            rotated = await there.oidc.ring.rotate()
            new = await there.oidc.ring.sign({}, {"sub": "alice"})
            # A token of the new key verifies at once, and the old key's still does.
            assert (await here.oidc.ring.verify(new)).header["kid"] == rotated.kid
            assert (await there.oidc.ring.verify(old)).claims == {"sub": "alice"}
            time.sleep(0.6)  # past REFRESH: a server registry is read again
            signed = await here.oidc.ring.sign({}, {})
            assert (await here.oidc.ring.verify(signed)).header["kid"] == rotated.kid
            listed = await here.oidc.keys.all()
            assert listed[0].kid == rotated.kid and len(listed) == 2
            assert listed[1].retired_at is not None and listed[0].retired_at is None
        finally:
            await here.close()
            await there.close()

    asyncio.run(scenario())
