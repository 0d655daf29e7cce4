"""Shared test helpers."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def require_backend(name: str, reason: str) -> NoReturn:
    """Skip a test whose backend service is absent; fail instead when CI demands every backend.

    CI sets AUTHGATE_REQUIRE_BACKENDS=1, so a missing PostgreSQL, MariaDB or Redis there is a
    red build rather than a quietly skipped suite.
    """
    if os.environ.get("AUTHGATE_REQUIRE_BACKENDS", "").strip().lower() in ("1", "true", "yes"):
        pytest.fail(f"{name} backend required (AUTHGATE_REQUIRE_BACKENDS=1): {reason}",
                    pytrace=False)
    pytest.skip(f"{name} backend unavailable: {reason}")
