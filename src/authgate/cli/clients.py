"""`authgate client ...`: the Client Application Registry."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from authgate.certificates import registration
from authgate.cli.common import UserError, print_json
from authgate.config import GRANT_TYPES, GrantType
from authgate.models import AUTH_METHODS
from authgate.services import Services


async def _client_create(args: argparse.Namespace, services: Services) -> int:
    grant_types: list[GrantType] = args.grant_type or ["authorization_code", "refresh_token"]
    if args.public and "client_credentials" in grant_types:
        raise UserError("a public client cannot use client_credentials")
    if "authorization_code" in grant_types and not args.redirect_uri:
        raise UserError("authorization_code needs at least one --redirect-uri")
    for uri in args.redirect_uri:
        if "#" in uri or "://" not in uri:
            raise UserError(f"redirect URI {uri!r} must be absolute and have no fragment")
    tls = _tls_registration(args)
    client, secret = await services.registry.create_client(
        args.name,
        redirect_uris=args.redirect_uri,
        scopes=args.scope,
        grant_types=grant_types,
        is_public=args.public,
        can_introspect=args.introspect,
        **tls,
    )
    if args.json:
        body = client.as_public_dict()
        if secret is not None:
            body["client_secret"] = secret
        print_json(body)
    else:
        print(f"client_id: {client.client_id}")
        if secret is not None:
            print(f"client_secret: {secret}  (shown once; only its hash is stored)")
    return 0


def _tls_registration(args: argparse.Namespace) -> dict[str, Any]:
    """--auth-method and its certificate options (SPEC.md, TLS and mutual TLS)."""
    certificate = None
    if args.tls_certificate:
        try:
            certificate = Path(args.tls_certificate).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"--tls-certificate {args.tls_certificate}: {exc}") from None
    try:
        return registration(
            args.auth_method,
            subject_dn=args.tls_subject_dn,
            certificate=certificate,
            public=args.public,
        )
    except ValueError as exc:
        raise UserError(str(exc)) from None


async def _client_list(args: argparse.Namespace, services: Services) -> int:
    clients = await services.registry.list_clients()
    if args.json:
        print_json([c.as_public_dict() for c in clients])
        return 0
    for c in clients:
        kind = "public" if c.is_public else "confidential"
        print(f"{c.client_id}  {c.name}  {kind}  {' '.join(c.grant_types)}")
    return 0


async def _client_show(args: argparse.Namespace, services: Services) -> int:
    client = await services.registry.get_client(args.client_id)
    if client is None:
        raise UserError(f"no client {args.client_id}")
    if args.json:
        print_json(client.as_public_dict())
    else:
        for name, value in client.as_public_dict().items():
            print(f"{name}: {value}")
    return 0


async def _client_delete(args: argparse.Namespace, services: Services) -> int:
    if not await services.registry.delete_client(args.client_id):
        raise UserError(f"no client {args.client_id}")
    revoked = await services.tokens.revoke_client(args.client_id)
    if services.codes is not services.tokens:
        revoked += await services.codes.revoke_client(args.client_id)
    print(f"deleted {args.client_id}; revoked {revoked} tokens and codes", file=sys.stderr)
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    client = commands.add_parser("client", help="Client Application Registry").add_subparsers(
        dest="action", required=True
    )
    create = client.add_parser("create", help="register a client application")
    create.add_argument("--name", required=True)
    create.add_argument("--redirect-uri", action="append", default=[])
    create.add_argument("--scope", action="append", default=[])
    create.add_argument("--grant-type", action="append", choices=GRANT_TYPES)
    create.add_argument("--public", action="store_true")
    create.add_argument("--introspect", action="store_true")
    create.add_argument("--json", action="store_true")
    create.add_argument("--auth-method", choices=AUTH_METHODS, default="secret")
    create.add_argument("--tls-subject-dn", help="tls_client_auth: the certificate's subject")
    create.add_argument("--tls-certificate", help="self_signed_tls_client_auth: a PEM file")
    create.set_defaults(handler=_client_create)
    listing = client.add_parser("list")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_client_list)
    show = client.add_parser("show")
    show.add_argument("client_id")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=_client_show)
    remove = client.add_parser("delete")
    remove.add_argument("client_id")
    remove.set_defaults(handler=_client_delete)
