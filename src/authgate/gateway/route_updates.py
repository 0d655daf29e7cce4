"""Gateway routes kept in the registry, in force in every process within seconds.

Each process polls the registry's route version (one primary-key read) about every second;
when it moved, it reads the routes and hands the whole set, the configuration file's first,
to the application, which swaps in a new route table. No restart, and no message between
processes: the registry they share is the channel.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from authgate.config import GatewayRoute
from authgate.errors import StoreUnavailable
from authgate.services import Services

log = logging.getLogger("authgate.gateway")

POLL_INTERVAL = 1.0  # seconds between two reads of the version: changes apply within ~1 s


class RouteUpdates:
    def __init__(
        self,
        services: Services,
        apply: Callable[[Sequence[GatewayRoute]], None],
        interval: float = POLL_INTERVAL,
    ) -> None:
        self.services = services
        self.apply = apply
        self.interval = interval
        self.version: int | None = None

    def _merged(self, registered: Sequence[GatewayRoute]) -> list[GatewayRoute]:
        """The file's routes, then the registry's. The administration refuses a registry route
        whose path or name the file has; one stored before the file changed is left out."""
        configured = list(self.services.settings.gateway.routes)
        paths = {route.path for route in configured}
        names = {route.service_name for route in configured}
        merged = list(configured)
        for route in registered:
            if route.path in paths or route.service_name in names:
                log.warning(
                    "route %s in the registry clashes with the file: ignored", route.service
                )
                continue
            merged.append(route)
        return merged

    async def load(self) -> None:
        """Read the version, then the routes: a change between the two is read again at the
        next poll, since the version read is the older one."""
        try:
            version = await self.services.registry.routes.version()
            registered = await self.services.registry.routes.list()
        except StoreUnavailable as exc:
            log.warning("gateway routes of the registry not read: %s", exc)
            return
        self.apply(self._merged(registered))
        self.version = version

    async def follow(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                version = await self.services.registry.routes.version()
            except StoreUnavailable as exc:
                log.warning("gateway route version not read: %s", exc)
                continue
            if version != self.version:
                try:
                    await self.load()
                except Exception:  # a bad row must not stop this process following changes
                    log.exception("gateway routes of the registry not applied")
