"""The manager's list of developer portal applications, every owner's, read-only: the keys
link to their clients, which the client pages manage."""

from __future__ import annotations

from itertools import groupby

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from authgate.operations.applications import list_applications
from authgate.pages.console.base import format_time, page, services_of, view_route
from authgate.pages.sessions import BrowserSession


async def applications_list(request: Request, admin: BrowserSession) -> Response:
    found = sorted(
        await list_applications(services_of(request)), key=lambda a: (a.owner, a.name, a.app_id)
    )
    by_owner = [(owner, list(owned)) for owner, owned in groupby(found, key=lambda a: a.owner)]
    return page(
        "console/applications.html",
        admin,
        by_owner=by_owner,
        format_time=format_time,
        section="applications",
    )


def application_pages() -> list[BaseRoute]:
    return [view_route("/manager/applications", applications_list)]
