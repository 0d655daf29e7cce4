"""Which handler serves a request path: the one route table of the application.

authgate's own paths come first: an exact path, or a prefix that owns everything below it
(`/manager`, `/static`). Then the gateway routes, the longest `path` first whatever their
order in the configuration (SPEC.md, Gateway). A match says who answers, which service
context monitoring counts the request in, and whether its body streams to an upstream (the
gateway) or is read whole under the 64 KiB limit first (everything else).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from starlette.types import ASGIApp


@dataclass(frozen=True, slots=True)
class RouteMatch:
    handler: ASGIApp
    service: str | None = None  # monitoring's service context; None: not counted
    composite: str = ""  # a composite context the request also counts in
    streams_body: bool = False  # True: bodies of any size pass, unread, to the handler


@dataclass(frozen=True, slots=True)
class OwnPath:
    """One of authgate's own paths; with `prefix`, everything below it too."""

    path: str
    match: RouteMatch
    prefix: bool = False


@dataclass(frozen=True, slots=True)
class GatewayPath:
    path: str
    match: RouteMatch


def is_under(path: str, prefix: str) -> bool:
    """`prefix` itself and every path below it: `/api` owns `/api/x`, not `/apix`."""
    if prefix == "/":
        return True
    return path.startswith(prefix) and (len(path) == len(prefix) or path[len(prefix)] == "/")


class RouteTable:
    def __init__(
        self, own: Iterable[OwnPath], gateway: Iterable[GatewayPath], fallback: RouteMatch
    ) -> None:
        own = list(own)
        self._exact = {entry.path: entry.match for entry in own if not entry.prefix}
        self._prefixes = sorted(
            ((e.path, e.match) for e in own if e.prefix),
            key=lambda item: len(item[0]),
            reverse=True,
        )
        self._gateway = sorted(
            ((g.path, g.match) for g in gateway), key=lambda item: len(item[0]), reverse=True
        )
        self.fallback = fallback  # no path of ours: the router answers (404, 405)

    def match(self, path: str) -> RouteMatch:
        found = self._exact.get(path)
        if found is not None:
            return found
        for prefix, match in self._prefixes:
            if is_under(path, prefix):
                return match
        for prefix, match in self._gateway:
            if is_under(path, prefix):
                return match
        return self.fallback
