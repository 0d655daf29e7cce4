"""Gateway routes: those of the configuration file (read-only) and those in the registry.

Both sources form one route table in every process (the longest path wins across them), so a
service name or a path may be used only once across both.
"""

from __future__ import annotations

from typing import Literal

from authgate.config import GatewayRoute
from authgate.operations.base import Caller, Conflict, Invalid, NotFound, audit
from authgate.route_registry import RouteInUse
from authgate.services import Services

Source = Literal["config", "api"]


class RouteView(GatewayRoute):
    """A route as the faces show it, with where it comes from."""

    source: Source


def _view(route: GatewayRoute, source: Source) -> RouteView:
    return RouteView(**route.model_dump(), source=source)


def _configured(services: Services) -> dict[str, GatewayRoute]:
    return {route.service_name: route for route in services.settings.gateway.routes}


async def list_routes(services: Services) -> list[RouteView]:
    found = [_view(route, "config") for route in services.settings.gateway.routes]
    found += [_view(route, "api") for route in await services.registry.routes.list()]
    return sorted(found, key=lambda route: route.path)


async def get_route(services: Services, service: str) -> RouteView:
    for route in await list_routes(services):
        if route.service_name == service:
            return route
    raise NotFound(f"no route {service}")


def _check_new(services: Services, route: GatewayRoute, *, keeping: str | None = None) -> None:
    """The service name is given and neither it nor the path clashes with the configuration
    file (the registry's own unique keys catch clashes within it)."""
    if not route.service:
        raise Invalid("service", "a route kept in the registry needs a service name")
    for configured in services.settings.gateway.routes:
        if configured.service_name == route.service and route.service != keeping:
            raise Conflict(f"route {route.service} is in the configuration file")
        if configured.path == route.path:
            raise Conflict(f"the configuration file has a route at {route.path}")


async def add_route(services: Services, caller: Caller, route: GatewayRoute) -> RouteView:
    _check_new(services, route)
    try:
        await services.registry.routes.add(route)
    except RouteInUse as exc:
        raise Conflict(str(exc)) from None
    audit(services, caller, "route.add", route.service)
    return _view(route, "api")


async def replace_route(
    services: Services, caller: Caller, service: str, route: GatewayRoute
) -> RouteView:
    """PUT: the route of that service becomes `route` (whose service, if given, must match)."""
    if service in _configured(services):
        raise Conflict(f"route {service} is in the configuration file")
    if route.service and route.service != service:
        raise Invalid("service", "differs from the route's name in the path")
    route = route.model_copy(update={"service": service})
    _check_new(services, route, keeping=service)
    try:
        replaced = await services.registry.routes.replace(route)
    except RouteInUse as exc:
        raise Conflict(str(exc)) from None
    if not replaced:
        raise NotFound(f"no route {service}")
    audit(services, caller, "route.replace", service)
    return _view(route, "api")


async def delete_route(services: Services, caller: Caller, service: str) -> None:
    if service in _configured(services):
        raise Conflict(f"route {service} is in the configuration file")
    if not await services.registry.routes.delete(service):
        raise NotFound(f"no route {service}")
    audit(services, caller, "route.delete", service)
