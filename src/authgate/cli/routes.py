"""`authgate route ...`: gateway routes kept in the registry, live in every server process."""

from __future__ import annotations

import argparse
import sys

from authgate.cli.common import cli_caller, json_flag, print_json
from authgate.config import GatewayRoute
from authgate.operations import parse, routes
from authgate.services import Services


async def _route_list(args: argparse.Namespace, services: Services) -> int:
    found = await routes.list_routes(services)
    if args.json:
        print_json([route.model_dump() for route in found])
        return 0
    for route in found:
        scopes = " ".join(route.scopes) or "-"
        print(f"{route.service_name}  {route.path}  {route.upstream}  {scopes}  ({route.source})")
    return 0


async def _route_add(args: argparse.Namespace, services: Services) -> int:
    given = {
        "path": args.path,
        "upstream": args.upstream,
        "scopes": args.scope,
        "service": args.service,
        "timeout": args.timeout,
        "strip_prefix": args.strip_prefix,
        "header_prefix": args.header_prefix,
    }
    route = parse(GatewayRoute, {k: v for k, v in given.items() if v is not None})
    added = await routes.add_route(services, cli_caller(), route)
    if args.json:
        print_json(added.model_dump())
    else:
        print(f"added {added.service}: {added.path} -> {added.upstream}", file=sys.stderr)
    return 0


async def _route_delete(args: argparse.Namespace, services: Services) -> int:
    await routes.delete_route(services, cli_caller(), args.service)
    print(f"deleted route {args.service}", file=sys.stderr)
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    route = commands.add_parser(
        "route",
        help="manage gateway routes kept in the registry",
        description="Gateway routes kept in the registry: in force in every server process "
        "within seconds, without a restart. Routes of the configuration file are read-only.",
    ).add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = route.add_parser("list", help="list routes of the file and of the registry")
    json_flag(listing)
    listing.set_defaults(handler=_route_list)

    add = route.add_parser("add", help="add a route")
    add.add_argument("--path", required=True, help="path prefix guarded by the route")
    add.add_argument("--upstream", required=True, metavar="URL", help="base URL of the API")
    add.add_argument(
        "--scope", action="append", default=[], metavar="S", help="a scope the token needs"
    )
    add.add_argument("--service", required=True, metavar="NAME", help="the route's name")
    add.add_argument("--timeout", type=float, metavar="SECONDS", help="upstream time limit")
    add.add_argument(
        "--strip-prefix",
        action="store_const",
        const=True,
        help="remove --path from the forwarded path",
    )
    add.add_argument("--header-prefix", metavar="P", help="prefix of the identity headers")
    json_flag(add)
    add.set_defaults(handler=_route_add)

    remove = route.add_parser("delete", help="delete a route of the registry")
    remove.add_argument("service", metavar="NAME", help="the route's name")
    remove.set_defaults(handler=_route_delete)
