"""axe-core in the test browser: the accessibility rules a page must pass.

axe-core is fetched once from the npm registry, at a pinned version checked against its
published integrity hash, into a cache outside the repository (~/.cache/authgate-tests/npm).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import tarfile
from pathlib import Path
from typing import Any

import httpx
import pytest

VERSION = "4.14.1"
TARBALL = f"https://registry.npmjs.org/axe-core/-/axe-core-{VERSION}.tgz"
INTEGRITY = (
    "FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ=="
)
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "authgate-tests" / "npm"
BLOCKING = ("serious", "critical")


def axe_source() -> str:
    """axe.min.js of the pinned version; skipped (or failed, where backends are required)
    when the registry cannot be reached and nothing is cached."""
    cached = CACHE / f"axe-core-{VERSION}" / "axe.min.js"
    if not cached.exists():
        try:
            tarball = httpx.get(TARBALL, timeout=60, follow_redirects=True).raise_for_status()
        except httpx.HTTPError as exc:
            reason = f"axe-core {VERSION} could not be fetched: {exc}"
            if os.environ.get("AUTHGATE_REQUIRE_BACKENDS", "").lower() in ("1", "true", "yes"):
                pytest.fail(reason, pytrace=False)
            pytest.skip(reason)
        sha512 = base64.b64encode(hashlib.sha512(tarball.content).digest()).decode()
        assert sha512 == INTEGRITY, "axe-core tarball does not match its integrity hash"
        with tarfile.open(fileobj=io.BytesIO(tarball.content)) as archive:
            member = archive.extractfile("package/axe.min.js")
            assert member is not None
            cached.parent.mkdir(parents=True, exist_ok=True)
            partial = cached.with_suffix(".part")
            partial.write_bytes(member.read())
            partial.replace(cached)  # whole or absent, for parallel runs
    return cached.read_text()


def blocking_violations(page: Any, source: str) -> list[dict[str, Any]]:
    """Run axe on the page as it is (WCAG 2.x A and AA rules and best practices); the
    serious and critical violations, each with the nodes at fault."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(source)  # evaluated over the DevTools protocol: the page's CSP allows it
    results: dict[str, Any] = page.evaluate("async () => await axe.run(document)")
    return [
        {
            "id": violation["id"],
            "impact": violation["impact"],
            "help": violation["help"],
            "nodes": [node["target"] for node in violation["nodes"]],
        }
        for violation in results["violations"]
        if violation["impact"] in BLOCKING
    ]


def report(violations: dict[str, list[dict[str, Any]]]) -> str:
    return json.dumps(violations, indent=2)
