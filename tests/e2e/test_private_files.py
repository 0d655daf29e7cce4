"""SPEC.md Hardening: the SQLite database and its -wal and -shm files are private (0600)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import httpx

from authgate.db.private_files import create_private_file
from tests.e2e.server import run_server


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_fresh_sqlite_database_and_its_wal_and_shm_are_0600(tmp_path):
    previous = os.umask(0o022)  # the usual umask, under which files are created 0644
    try:
        with run_server(tmp_path) as server:
            server.create_client("app", scopes=["a"], grant_types=["client_credentials"])
            assert httpx.get(f"{server.url}/readyz").status_code == 200
            files = [tmp_path / f"authgate.db{suffix}" for suffix in ("", "-wal", "-shm")]
            assert {path.name: mode(path) for path in files} == {path.name: 0o600 for path in files}
    finally:
        os.umask(previous)


def test_create_private_file_leaves_an_existing_file_alone(tmp_path):
    path = tmp_path / "kept"
    path.write_bytes(b"data")
    path.chmod(0o640)
    assert create_private_file(path) is False
    assert (path.read_bytes(), mode(path)) == (b"data", 0o640)
    fresh = tmp_path / "fresh"
    assert create_private_file(fresh) is True
    assert (fresh.read_bytes(), mode(fresh)) == (b"", 0o600)
    assert create_private_file(tmp_path / "missing" / "x") is False  # left to its user to report
