"""The load generator: httpx over asyncio, closed loop (N workers back to back) or open loop
(a fixed rate), each answer kept as a Sample for the drills' verdicts and percentiles."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import httpx

Step = Callable[[int], Coroutine[Any, Any, None]]


@dataclass(slots=True)
class Sample:
    kind: str  # what the request was, as the drill names it
    started: float  # time.monotonic() when it was sent
    latency: float  # seconds
    status: int  # 0: no answer (the connection failed or timed out)
    body: Any  # the JSON answer, or None
    error: str = ""  # the transport error, when status is 0

    @property
    def error_code(self) -> str | None:
        return self.body.get("error") if isinstance(self.body, dict) else None


def client(limit: int = 100, timeout: float = 15) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=timeout,
        limits=httpx.Limits(max_connections=limit, max_keepalive_connections=limit),
    )


async def send(http: httpx.AsyncClient, kind: str, method: str, url: str, **options: Any) -> Sample:
    started = time.monotonic()
    try:
        response = await http.request(method, url, **options)
    except httpx.HTTPError as exc:
        return Sample(kind, started, time.monotonic() - started, 0, None, type(exc).__name__)
    latency = time.monotonic() - started
    body = None
    with contextlib.suppress(ValueError):
        body = response.json()
    return Sample(kind, started, latency, response.status_code, body)


async def closed_loop(workers: int, duration: float, step: Step) -> None:
    """`workers` coroutines each call `step(worker)` back to back for `duration` seconds."""
    deadline = time.monotonic() + duration

    async def worker(index: int) -> None:
        while time.monotonic() < deadline:
            await step(index)

    await asyncio.gather(*(worker(i) for i in range(workers)))


async def open_loop(rate: float, duration: float, step: Step, *, max_in_flight: int = 200) -> int:
    """`step` started `rate` times a second for `duration` seconds, whatever the answers take
    (up to `max_in_flight` at once); returns how many starts were skipped at that cap."""
    interval = 1 / rate
    start = time.monotonic()
    tasks: set[asyncio.Task[None]] = set()
    skipped = 0
    tick = 0
    while True:
        due = start + tick * interval
        if due - start >= duration:
            break
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        if len(tasks) >= max_in_flight:
            skipped += 1
        else:
            task = asyncio.create_task(step(tick))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        tick += 1
    if tasks:
        await asyncio.gather(*tasks)
    return skipped


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank), in the unit of the values; NaN for none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)
