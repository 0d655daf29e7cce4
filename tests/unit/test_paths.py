"""Normal form of request paths (SPEC.md, Hardening): what is refused before routing."""

from __future__ import annotations

import pytest

from authgate.paths import is_normal, request_path

NOT_NORMAL = [
    b"/api/public/../admin/users",
    b"/api/public/./admin",
    b"/api/public/..",
    b"/api/public/.",
    b"/..",
    b"/api/public/%2e%2e/admin",
    b"/api/public/%2E%2E/admin",
    b"/api/public/%2e./admin",
    b"/api/public/.%2E/admin",
    b"/api/public/%2e/admin",
    b"/api/public/..%2fadmin",
    b"/api/public/..%2Fadmin",
    b"/api/public%2fadmin",
    b"/api/public/..%5cadmin",
    b"/api/public%5Cadmin",
    b"/api/public//admin",
    b"//api/public",
    b"/api/public%00/admin",
    b"/api/public\x00/admin",
]
NORMAL = [
    b"/",
    b"/api/public",
    b"/api/public/",
    b"/api/public/...",
    b"/api/public/.well-known",
    b"/api/public/a.b/c..d/%2e%2e%2e",
    b"/api/public/%20x%41",
    b"/api/public/2e/2f",
]


@pytest.mark.parametrize("path", NOT_NORMAL)
def test_not_normal(path):
    assert not is_normal(path)


@pytest.mark.parametrize("path", NORMAL)
def test_normal(path):
    assert is_normal(path)


def test_request_path_is_the_raw_one_without_query():
    scope = {"path": "/api/public/../x", "raw_path": b"/api/public/%2e%2e/x?q=/../"}
    assert request_path(scope) == b"/api/public/%2e%2e/x"
    assert request_path({"path": "/a b"}) == b"/a b"
