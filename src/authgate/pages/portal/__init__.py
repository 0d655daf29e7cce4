"""The developer portal at /portal (SPEC.md, "Developer portal") and `/account`."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from authgate.pages.portal.account import account_routes
from authgate.pages.portal.applications import application_routes
from authgate.pages.portal.keys import key_routes
from authgate.pages.portal.signin import sign_in, sign_in_page, sign_up, sign_up_page
from authgate.pages.portal.try_it import try_it_routes
from authgate.pages.portal.usage import usage_routes


def portal_routes(*, enabled: bool) -> list[BaseRoute]:
    """The portal's pages when `[portal] enabled`; `/account` always."""
    routes: list[BaseRoute] = [*account_routes()]
    if enabled:
        routes += [
            Route("/portal/login", sign_in_page, methods=["GET"]),
            Route("/portal/login", sign_in, methods=["POST"]),
            Route("/portal/signup", sign_up_page, methods=["GET"]),
            Route("/portal/signup", sign_up, methods=["POST"]),
            *application_routes(),
            *key_routes(),
            *try_it_routes(),
            *usage_routes(),
        ]
    return routes
