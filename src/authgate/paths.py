"""Whether a request path is in normal form (SPEC.md, Hardening: gateway paths).

Routes are matched on the decoded path but the gateway forwards the raw one, so a path the
two could read differently lets a request matched by one route reach another upstream path:
`/api/public/../admin` is matched under `/api/public`, and an upstream that resolves dot
segments serves `/api/admin`. Such a path is refused before any route is matched, never
forwarded. Only the raw path decides: a decoded path has already lost the difference.
"""

from __future__ import annotations

import re

from starlette.types import Scope

# A `.` or `..` segment, literal or with any of its dots written `%2e` in either case.
_DOT_SEGMENT = re.compile(rb"(?:\.|%2e){1,2}", re.IGNORECASE)
# What a decoder turns into a separator or an end of string (checked on the lower-cased path).
_ENCODED = (b"%2f", b"%5c", b"%00")


def request_path(scope: Scope) -> bytes:
    """The path as the client sent it, without the query (uvicorn's `raw_path` has none)."""
    raw: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
    return raw.split(b"?", 1)[0]


def is_normal(path: bytes) -> bool:
    """No dot segment, no encoded slash, backslash or NUL, no `//`, no NUL."""
    if b"//" in path or b"\x00" in path:
        return False
    if b"." not in path and b"%" not in path:  # the usual path: nothing else to look for
        return True
    lowered = path.lower()
    if any(encoded in lowered for encoded in _ENCODED):
        return False
    return not any(_DOT_SEGMENT.fullmatch(segment) for segment in path.split(b"/"))
