from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.server import RunningServer, run_server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    """authgate with every default, its SQLite file in tmp_path."""
    with run_server(tmp_path) as running:
        yield running
