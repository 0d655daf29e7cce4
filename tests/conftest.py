"""Shared test helpers and fixtures.

Tests that await authgate's coroutines are `async def`, marked `pytest.mark.anyio` (usually as
the module's `pytestmark`), and so are fixtures that await; anyio's pytest plugin runs them. An
async fixture that plain tests use asks for `anyio_backend` itself, so the plugin runs it there.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """The loop of every async test and fixture (tests/e2e/test_upstream.py adds uvloop)."""
    return "asyncio"


def require_backend(name: str, reason: str) -> NoReturn:
    """Skip a test whose backend service is absent; fail instead when CI demands every backend.

    CI sets AUTHGATE_REQUIRE_BACKENDS=1, so a missing PostgreSQL, MariaDB or Redis there is a
    red build rather than a quietly skipped suite.
    """
    if os.environ.get("AUTHGATE_REQUIRE_BACKENDS", "").strip().lower() in ("1", "true", "yes"):
        pytest.fail(
            f"{name} backend required (AUTHGATE_REQUIRE_BACKENDS=1): {reason}", pytrace=False
        )
    pytest.skip(f"{name} backend unavailable: {reason}")
