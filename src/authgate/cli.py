"""The `authgate` command: thin wrappers over the library (SPEC.md, "Command line")."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NoReturn

from authgate.config import GRANT_TYPES, GrantType, Settings, load_settings
from authgate.errors import ConfigError, OAuthError, StoreUnavailable
from authgate.registry import AlreadyExists
from authgate.scopes import ScopeResolver
from authgate.services import Services
from authgate.tokens import digest, issues_refresh_token, mint, new_grant, now

TOKEN_BATCH = 500  # tokens `token create --count N` stores per transaction


class UserError(Exception):
    """A mistake of the caller: one line on stderr, exit status 2."""


def _print_json(value: Any) -> None:
    print(json.dumps(value, separators=(",", ":")))


def _read_password(args: argparse.Namespace) -> str:
    if not args.password_stdin:
        raise UserError("--password-stdin is required")
    line = sys.stdin.readline()
    password = line[:-1] if line.endswith("\n") else line
    password = password[:-1] if password.endswith("\r") else password
    if not password:
        raise UserError("the password read from stdin is empty")
    return password


async def _with_services(settings: Settings, work: Callable[[Services], Awaitable[int]]) -> int:
    services = await Services.open(settings)
    try:
        return await work(services)
    finally:
        await services.close()


# client


async def _client_create(args: argparse.Namespace, services: Services) -> int:
    grant_types: list[GrantType] = args.grant_type or ["authorization_code", "refresh_token"]
    if args.public and "client_credentials" in grant_types:
        raise UserError("a public client cannot use client_credentials")
    if "authorization_code" in grant_types and not args.redirect_uri:
        raise UserError("authorization_code needs at least one --redirect-uri")
    for uri in args.redirect_uri:
        if "#" in uri or "://" not in uri:
            raise UserError(f"redirect URI {uri!r} must be absolute and have no fragment")
    client, secret = await services.registry.create_client(
        args.name,
        redirect_uris=args.redirect_uri,
        scopes=args.scope,
        grant_types=grant_types,
        is_public=args.public,
        can_introspect=args.introspect,
    )
    if args.json:
        body = client.as_public_dict()
        if secret is not None:
            body["client_secret"] = secret
        _print_json(body)
    else:
        print(f"client_id: {client.client_id}")
        if secret is not None:
            print(f"client_secret: {secret}  (shown once; only its hash is stored)")
    return 0


async def _client_list(args: argparse.Namespace, services: Services) -> int:
    clients = await services.registry.list_clients()
    if args.json:
        _print_json([c.as_public_dict() for c in clients])
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
        _print_json(client.as_public_dict())
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


# users and administrators


async def _user_create(args: argparse.Namespace, services: Services) -> int:
    await services.registry.create_user(args.username, _read_password(args))
    if args.json:
        _print_json({"username": args.username})
    return 0


async def _user_unlock(args: argparse.Namespace, services: Services) -> int:
    lifted = await services.lockout.unlock(args.username)
    print(f"{args.username}: {'lock lifted' if lifted else 'was not locked'}", file=sys.stderr)
    return 0


async def _admin_create(args: argparse.Namespace, services: Services) -> int:
    await services.registry.create_admin(args.username, _read_password(args))
    return 0


# tokens


async def _token_create(args: argparse.Namespace, services: Services) -> int:
    client = await services.registry.get_client(args.client)
    if client is None:
        raise UserError(f"no client {args.client}")
    grant_type: GrantType = "password" if args.user else "client_credentials"
    settings = services.settings.token_settings(grant_type)
    resolver = ScopeResolver(services.settings.flow(grant_type).model_copy(
        update={"scopes": "any"}), None)
    scopes = await resolver.resolve(tuple(args.scope), client, {})
    with_refresh = issues_refresh_token(client, settings, grant_type)
    if args.count < 1:
        raise UserError("--count must be at least 1")
    remaining = args.count
    while remaining:
        # Stored in batches (one transaction each), printed only once stored.
        batch = [
            mint(new_grant(client.client_id, scopes, subject=args.user or client.client_id,
                           username=args.user), settings, with_refresh=with_refresh)
            for _ in range(min(remaining, TOKEN_BATCH))
        ]
        await services.tokens.put([entry for grant in batch for entry in grant.entries])
        for grant in batch:
            if args.json:
                _print_json(grant.response())
            else:
                print(grant.access.value)
        remaining -= len(batch)
    return 0


async def _token_revoke(args: argparse.Namespace, services: Services) -> int:
    key = digest(args.token)
    record = await services.tokens.get(key)
    if record is not None and record.kind == "refresh_token":
        await services.tokens.revoke_grant(record.grant_id)  # RFC 7009 section 2.1
    else:
        await services.tokens.delete(key)
    return 0


async def _token_purge(args: argparse.Namespace, services: Services) -> int:
    removed = await services.tokens.purge(now())
    if services.codes is not services.tokens:
        removed += await services.codes.purge(now())
    print(f"purged {removed} expired tokens and codes", file=sys.stderr)
    return 0


async def _migrate(args: argparse.Namespace, services: Services) -> int:
    await services.migrate()
    print("schema is up to date", file=sys.stderr)
    return 0


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    # The playground calls the token endpoint over HTTP: httpx is the `demo` extra.
    if args.demo and importlib.util.find_spec("httpx") is None:
        raise UserError("serve --demo needs httpx: pip install 'authgate[demo]'")
    from authgate.server import ServeOptions, serve  # here: uvicorn is only needed to serve

    # Worker processes read the file again; an absolute path names the same one to them.
    config = args.config or os.environ.get("AUTHGATE_CONFIG") or None
    options = ServeOptions(config=os.path.abspath(config) if config else None, host=args.host,
                           port=args.port, workers=args.workers, demo=args.demo)
    return serve(settings, options)


Handler = Callable[[argparse.Namespace, Services], Awaitable[int]]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="authgate", description=__doc__)
    parser.add_argument("--config", help="TOML configuration file (or AUTHGATE_CONFIG)")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP server")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int)
    serve.add_argument("--demo", action="store_true", help="seed a demo client and user")
    serve.set_defaults(serve=_serve)

    commands.add_parser("migrate", help="create or upgrade the schema").set_defaults(
        handler=_migrate)

    client = commands.add_parser("client", help="Client Application Registry").add_subparsers(
        dest="action", required=True)
    create = client.add_parser("create", help="register a client application")
    create.add_argument("--name", required=True)
    create.add_argument("--redirect-uri", action="append", default=[])
    create.add_argument("--scope", action="append", default=[])
    create.add_argument("--grant-type", action="append", choices=GRANT_TYPES)
    create.add_argument("--public", action="store_true")
    create.add_argument("--introspect", action="store_true")
    create.add_argument("--json", action="store_true")
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

    user = commands.add_parser("user", help="Local User Store").add_subparsers(
        dest="action", required=True)
    user_create = user.add_parser("create")
    user_create.add_argument("username")
    user_create.add_argument("--password-stdin", action="store_true")
    user_create.add_argument("--json", action="store_true")
    user_create.set_defaults(handler=_user_create)
    user_unlock = user.add_parser("unlock", help="lift a brute-force lock")
    user_unlock.add_argument("username")
    user_unlock.set_defaults(handler=_user_unlock)

    admin = commands.add_parser("admin", help="administrators of the manager").add_subparsers(
        dest="action", required=True)
    admin_create = admin.add_parser("create")
    admin_create.add_argument("username")
    admin_create.add_argument("--password-stdin", action="store_true")
    admin_create.set_defaults(handler=_admin_create)

    tokens = commands.add_parser("token", help="issue, revoke and purge tokens").add_subparsers(
        dest="action", required=True)
    token_create = tokens.add_parser("create")
    token_create.add_argument("--client", required=True)
    token_create.add_argument("--user")
    token_create.add_argument("--scope", action="append", default=[])
    token_create.add_argument("--count", type=int, default=1)
    token_create.add_argument("--json", action="store_true")
    token_create.set_defaults(handler=_token_create)
    revoke = tokens.add_parser("revoke")
    revoke.add_argument("token")
    revoke.set_defaults(handler=_token_revoke)
    tokens.add_parser("purge").set_defaults(handler=_token_purge)
    return parser


def _fail(message: str, status: int) -> NoReturn:
    print(f"authgate: {message}", file=sys.stderr)
    raise SystemExit(status)


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(args.config)
        if getattr(args, "serve", None):
            raise SystemExit(args.serve(args, settings))
        handler: Handler = args.handler
        status = asyncio.run(_with_services(settings, lambda s: handler(args, s)))
    except ConfigError as exc:
        _fail(str(exc), 2)
    except (UserError, AlreadyExists) as exc:
        _fail(str(exc), 2)
    except OAuthError as exc:
        _fail(f"{exc.code}: {exc.description}", 2)
    except StoreUnavailable as exc:
        _fail(str(exc), 1)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    raise SystemExit(status)


if __name__ == "__main__":
    main()
