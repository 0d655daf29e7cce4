"""`authgate token ...`: issue, revoke and purge tokens."""

from __future__ import annotations

import argparse
import sys

from authgate.cli.common import UserError, print_json
from authgate.config import GrantType
from authgate.scopes import ScopeResolver
from authgate.services import Services
from authgate.tokens import digest, issues_refresh_token, mint, new_grant, now
from authgate.usernames import InvalidUsername, canonical_username

TOKEN_BATCH = 500  # tokens `token create --count N` stores per transaction


async def _token_create(args: argparse.Namespace, services: Services) -> int:
    client = await services.registry.get_client(args.client)
    if client is None:
        raise UserError(f"no client {args.client}")
    # The name as every flow keeps it, so that `user revoke` and the admin API find its tokens.
    try:
        username = canonical_username(args.user) if args.user else None
    except InvalidUsername as exc:
        raise UserError(f"--user: {exc}") from None
    grant_type: GrantType = "password" if username else "client_credentials"
    settings = services.settings.token_settings(grant_type)
    resolver = ScopeResolver(
        services.settings.flow(grant_type).model_copy(update={"scopes": "any"}), None
    )
    scopes = await resolver.resolve(tuple(args.scope), client, {})
    with_refresh = issues_refresh_token(client, settings, grant_type)
    if args.count < 1:
        raise UserError("--count must be at least 1")
    remaining = args.count
    while remaining:
        # Stored in batches (one transaction each), printed only once stored.
        batch = [
            await services.oidc.finish(
                mint(
                    new_grant(
                        client.client_id,
                        scopes,
                        subject=username or client.client_id,
                        username=username,
                    ),
                    settings,
                    client=client,
                    with_refresh=with_refresh,
                ),
                settings,
            )
            for _ in range(min(remaining, TOKEN_BATCH))
        ]
        await services.tokens.put([entry for grant in batch for entry in grant.entries])
        for grant in batch:
            if args.json:
                print_json(grant.response())
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


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tokens = commands.add_parser("token", help="issue, revoke and purge tokens").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    token_create = tokens.add_parser(
        "create",
        help="issue tokens directly, as the client's grant would",
        description="Issue tokens as the client's grant would (refresh token per the flow "
        "settings), for operators, tests and benchmarks.",
    )
    token_create.add_argument("--client", required=True, metavar="CLIENT_ID", help="the client")
    token_create.add_argument("--user", metavar="NAME", help="the user behind the tokens")
    token_create.add_argument(
        "--scope", action="append", default=[], metavar="S", help="a scope (repeat)"
    )
    token_create.add_argument(
        "--count", type=int, default=1, metavar="N", help="how many (default 1)"
    )
    token_create.add_argument(
        "--json", action="store_true", help="one token response per line, as JSON"
    )
    token_create.set_defaults(handler=_token_create)
    revoke = tokens.add_parser("revoke", help="revoke one token (RFC 7009)")
    revoke.add_argument("token", help="an access or refresh token")
    revoke.set_defaults(handler=_token_revoke)
    tokens.add_parser("purge", help="delete expired tokens and codes now").set_defaults(
        handler=_token_purge
    )
