"""An application's usage tab: requests and distinct users per service over 24 hours, from
the traffic log, with a bar chart drawn here as inline SVG (the pages run no inline script).
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from authgate.operations import OperationError, applications
from authgate.pages.console.base import services_of
from authgate.pages.portal.applications import missing
from authgate.pages.portal.base import caller_of, page, view_route
from authgate.pages.sessions import BrowserSession

CHART_WIDTH = 560
BAR_HEIGHT = 22
BAR_GAP = 14
LABEL_WIDTH = 150  # the service names, left of the bars
NUMBER_WIDTH = 60  # the count, right of its bar


@dataclass(frozen=True, slots=True)
class Bar:
    service: str
    requests: int
    users: int
    y: int
    width: int


def bars(requests: dict[str, int], users: dict[str, int]) -> list[Bar]:
    """One bar per service, busiest first, as long as its share of the busiest."""
    longest = CHART_WIDTH - LABEL_WIDTH - NUMBER_WIDTH
    most = max(requests.values(), default=0) or 1
    ordered = sorted(requests.items(), key=lambda item: (-item[1], item[0]))
    return [
        Bar(
            service=service,
            requests=count,
            users=users.get(service, 0),
            y=index * (BAR_HEIGHT + BAR_GAP) + BAR_GAP // 2,
            width=max(2, round(longest * count / most)),
        )
        for index, (service, count) in enumerate(ordered)
    ]


async def usage_tab(request: Request, user: BrowserSession) -> Response:
    services, caller = services_of(request), caller_of(user)
    app_id = request.path_params["app_id"]
    try:
        app = await applications.get_application(services, caller, app_id)
        found = await applications.usage_detail(services, caller, app_id)
    except OperationError:
        return await missing(user)
    drawn = bars(found.services, found.service_users)
    return page(
        "usage.html",
        user,
        app=app,
        tab="usage",
        usage=found,
        bars=drawn,
        chart={
            "width": CHART_WIDTH,
            "height": max(1, len(drawn)) * (BAR_HEIGHT + BAR_GAP),
            "bar_height": BAR_HEIGHT,
            "label_width": LABEL_WIDTH,
        },
        monitoring=services.settings.monitoring.enabled,
        section="applications",
    )


def usage_routes() -> list[Route]:
    return [view_route("/portal/applications/{app_id}/usage", usage_tab)]
