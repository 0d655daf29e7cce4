"""The counts of every worker of `serve --workers N`, for `/metrics` and the manager.

Each worker process owns one file in a directory the supervisor creates for the run, and
replaces it (write, then rename: a reader sees the old file or the new one, never half of
one) once a second and whenever it answers a scrape. A scrape sums every file, its own
process's counts taken live: the others are at most a second behind. The file of a worker
that exited stays, so a counter never goes down when uvicorn replaces a worker.

Nothing secret is in these files: service names, client identifiers and numbers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from pathlib import Path

import orjson

from authgate.monitoring.counts import Counts

log = logging.getLogger("authgate.monitoring")

PUBLISH_SECONDS = 1.0


class SharedCounts:
    """One worker's file in the shared directory, and the sum over all of them."""

    def __init__(self, directory: Path, counts: Counts) -> None:
        self.directory = directory
        self.counts = counts
        # The pid alone could repeat (a replaced worker); the random part keeps files apart.
        self.path = directory / f"worker-{os.getpid()}-{secrets.token_hex(4)}.json"
        self._task: asyncio.Task[None] | None = None

    def publish(self) -> None:
        partial = self.path.with_suffix(".tmp")
        partial.write_bytes(orjson.dumps(self.counts.to_json()))
        os.replace(partial, self.path)

    def total(self) -> Counts:
        """This process's counts as they are now, plus every other worker's last file."""
        self.publish()
        total = Counts()
        for path in sorted(self.directory.glob("worker-*.json")):
            try:
                total.merge_json(orjson.loads(path.read_bytes()))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                # A file removed or not ours: the scrape shows the others.
                log.warning("worker counts %s not read: %s", path.name, type(exc).__name__)
        return total

    def start(self) -> None:
        self._task = asyncio.create_task(self._publish_forever())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(OSError):
            self.publish()

    async def _publish_forever(self) -> None:
        while True:
            await asyncio.sleep(PUBLISH_SECONDS)
            try:
                self.publish()
            except OSError as exc:
                log.warning("worker counts not published: %s", type(exc).__name__)
