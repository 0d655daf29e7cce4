from __future__ import annotations

import sys

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

from authgate.db import HEAD_REVISION, MIGRATIONS, create_engine, is_at_head, migrate


def test_head_revision_is_the_newest_migration():
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD_REVISION


@pytest.mark.anyio
async def test_a_migrated_database_is_recognised_without_alembic(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path}/a.db")
    try:
        assert not await is_at_head(engine)
        await migrate(engine)
        assert await is_at_head(engine)
        async with engine.begin() as conn:
            await conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0001'")
        assert not await is_at_head(engine)
    finally:
        await engine.dispose()


def test_starting_on_a_migrated_database_does_not_load_alembic(tmp_path):
    import subprocess

    script = (
        "import asyncio, sys\n"
        "from authgate.db import create_engine, migrate\n"
        "async def main():\n"
        f"    engine = create_engine('sqlite:///{tmp_path}/b.db')\n"
        "    await migrate(engine)\n"
        "    await engine.dispose()\n"
        "asyncio.run(main())\n"
        "print('alembic' in sys.modules)\n"
    )
    first = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    again = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert first.stdout.strip() == "True"
    assert again.stdout.strip() == "False"
