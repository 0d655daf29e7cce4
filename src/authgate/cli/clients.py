"""`authgate client ...`: the Client Application Registry, through authgate.operations."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from authgate.cli.common import UserError, cli_caller, json_flag, print_json
from authgate.config import GRANT_TYPES
from authgate.models import AUTH_METHODS
from authgate.operations import clients, parse
from authgate.services import Services


def _print_client(client: clients.ClientView, as_json: bool, secret: str | None = None) -> None:
    if as_json:
        body = client.model_dump()
        if secret is not None:
            body["client_secret"] = secret
        print_json(body)
        return
    for name, value in client.model_dump().items():
        print(f"{name}: {value}")


async def _client_create(args: argparse.Namespace, services: Services) -> int:
    request: dict[str, Any] = {
        "name": args.name,
        "redirect_uris": args.redirect_uri,
        "scopes": args.scope,
        "public": args.public,
        "introspect": args.introspect,
        "auth_method": args.auth_method,
        "tls_subject_dn": args.tls_subject_dn,
        "tls_certificate": _read_certificate(args.tls_certificate),
    }
    if args.grant_type:
        request["grant_types"] = args.grant_type
    created = await clients.create_client(
        services, cli_caller(), parse(clients.ClientCreate, request)
    )
    if args.json:
        _print_client(created, True, created.client_secret)
        return 0
    print(f"client_id: {created.client_id}")
    if created.client_secret is not None:
        print(f"client_secret: {created.client_secret}  (shown once; only its hash is stored)")
    return 0


def _read_certificate(path: str | None) -> str | None:
    """--tls-certificate: the PEM text of the file (the registry keeps the certificate)."""
    if not path:
        return None
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"--tls-certificate {path}: {exc}") from None


async def _client_list(args: argparse.Namespace, services: Services) -> int:
    found = await clients.list_clients(services)
    if args.json:
        print_json([c.model_dump() for c in found])
        return 0
    for c in found:
        kind = "public" if c.public else "confidential"
        print(f"{c.client_id}  {c.name}  {kind}  {' '.join(c.grant_types)}")
    return 0


async def _client_show(args: argparse.Namespace, services: Services) -> int:
    _print_client(await clients.get_client(services, args.client_id), args.json)
    return 0


async def _client_update(args: argparse.Namespace, services: Services) -> int:
    given = {
        "name": args.name,
        "redirect_uris": args.redirect_uri,
        "scopes": args.scope,
        "grant_types": args.grant_type,
    }
    changes = parse(clients.ClientChanges, {k: v for k, v in given.items() if v is not None})
    updated = await clients.update_client(services, cli_caller(), args.client_id, changes)
    _print_client(updated, args.json)
    return 0


async def _client_rotate_secret(args: argparse.Namespace, services: Services) -> int:
    rotation = parse(clients.SecretRotation, {"grace": args.grace})
    rotated = await clients.rotate_secret(services, cli_caller(), args.client_id, rotation)
    if args.json:
        print_json(rotated.model_dump())
        return 0
    print(f"client_secret: {rotated.client_secret}  (shown once; only its hash is stored)")
    if args.grace:
        print(f"the previous secret keeps working for {args.grace} seconds", file=sys.stderr)
    return 0


async def _client_delete(args: argparse.Namespace, services: Services) -> int:
    revoked = await clients.delete_client(services, cli_caller(), args.client_id)
    print(f"deleted {args.client_id}; revoked {revoked} tokens and codes", file=sys.stderr)
    return 0


def _client_lists(parser: argparse.ArgumentParser, *, default: list[str] | None) -> None:
    parser.add_argument(
        "--redirect-uri",
        action="append",
        default=default,
        metavar="URI",
        help="a redirect URI, matched exactly (repeat for several)",
    )
    parser.add_argument(
        "--scope", action="append", default=default, metavar="S", help="a scope (repeat)"
    )
    parser.add_argument(
        "--grant-type",
        action="append",
        choices=GRANT_TYPES,
        metavar="G",
        help=f"a grant type: {', '.join(GRANT_TYPES)} (repeat)",
    )


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    client = commands.add_parser(
        "client",
        help="register and manage client applications",
        description="The Client Application Registry.",
    ).add_subparsers(dest="action", required=True, metavar="ACTION")
    create = client.add_parser(
        "create",
        help="register a client application",
        description="Register a client; a confidential one gets a secret, shown once. Without "
        "--grant-type it gets authorization_code and refresh_token.",
    )
    create.add_argument("--name", required=True, help="a name people recognise")
    _client_lists(create, default=[])
    create.add_argument("--public", action="store_true", help="a public client: no secret, PKCE")
    create.add_argument(
        "--introspect", action="store_true", help="may call the introspection endpoint"
    )
    create.add_argument(
        "--auth-method",
        choices=AUTH_METHODS,
        default="secret",
        help="secret (default), or a client certificate (RFC 8705): tls_client_auth or "
        "self_signed_tls_client_auth",
    )
    create.add_argument("--tls-subject-dn", metavar="DN", help="tls_client_auth: the subject DN")
    create.add_argument(
        "--tls-certificate", metavar="FILE", help="self_signed_tls_client_auth: its PEM certificate"
    )
    json_flag(create)
    create.set_defaults(handler=_client_create)

    listing = client.add_parser("list", help="list every client")
    json_flag(listing)
    listing.set_defaults(handler=_client_list)

    show = client.add_parser("show", help="show one client (never its secret)")
    show.add_argument("client_id", help="the client's id")
    json_flag(show)
    show.set_defaults(handler=_client_show)

    update = client.add_parser(
        "update",
        help="change a client",
        description="Change a client; each repeated option given replaces that whole list.",
    )
    update.add_argument("client_id", help="the client's id")
    update.add_argument("--name", help="a new name")
    _client_lists(update, default=None)
    json_flag(update)
    update.set_defaults(handler=_client_update)

    rotate = client.add_parser(
        "rotate-secret",
        help="give a client a new secret",
        description="A new secret, shown once; the old one keeps working for --grace seconds.",
    )
    rotate.add_argument("client_id", help="the client's id")
    rotate.add_argument(
        "--grace",
        type=int,
        default=0,
        metavar="SECONDS",
        help="seconds the old secret keeps working (default 0: it stops now)",
    )
    json_flag(rotate)
    rotate.set_defaults(handler=_client_rotate_secret)

    remove = client.add_parser("delete", help="delete a client and revoke its tokens")
    remove.add_argument("client_id", help="the client's id")
    remove.set_defaults(handler=_client_delete)
