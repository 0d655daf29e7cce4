"""The manager console: pages over the administration's operations (authgate.operations),
one module per resource; `base` holds the session, CSRF and error handling they share."""

from __future__ import annotations

from starlette.routing import BaseRoute

from authgate.pages.console.applications import application_pages
from authgate.pages.console.clients import client_pages
from authgate.pages.console.routes import route_pages
from authgate.pages.console.users import user_pages


def console_pages() -> list[BaseRoute]:
    return [*client_pages(), *user_pages(), *route_pages(), *application_pages()]


__all__ = ["console_pages"]
