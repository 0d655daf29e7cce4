"""Named events (`token.issued`, `code.reused`, `login.failed`, ...) and their subscribers.

Flows emit; monitoring subscribes. Nothing here knows about metrics or logs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

log = logging.getLogger("authgate.events")

Subscriber = Callable[[str, Mapping[str, Any]], None]


class Events:
    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def emit(self, name: str, **fields: Any) -> None:
        for subscriber in self._subscribers:
            try:
                subscriber(name, fields)
            except Exception:  # a broken subscriber must never fail a request
                log.exception("event subscriber failed on %s", name)
