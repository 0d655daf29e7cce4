"""`authgate keys ...`: the signing keys of id tokens and JWT access tokens."""

from __future__ import annotations

import argparse
import sys

from authgate.cli.common import print_json
from authgate.services import Services
from authgate.tokens import now


async def _keys_rotate(args: argparse.Namespace, services: Services) -> int:
    key = await services.oidc.ring.rotate()
    if args.json:
        print_json(key.as_public_dict(current=True, published=True))
    else:
        print(key.kid)
        print(
            f"{key.alg} key {key.kid} is current; the previous ones stay published for "
            f"{services.settings.oidc.key_retention} s",
            file=sys.stderr,
        )
    return 0


async def _keys_list(args: argparse.Namespace, services: Services) -> int:
    stored = await services.oidc.keys.all()
    current = next((key.kid for key in stored if key.retired_at is None), None)
    retention = services.settings.oidc.key_retention
    rows = [
        key.as_public_dict(current=key.kid == current, published=key.is_published(now(), retention))
        for key in stored
    ]
    if args.json:
        print_json(rows)
        return 0
    for row in rows:
        status = "current" if row["current"] else "published" if row["published"] else "expired"
        print(f"{row['kid']}  {row['alg']}  {row['created_at']}  {status}")
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = commands.add_parser(
        "keys", help="signing keys of id tokens and JWT access tokens"
    ).add_subparsers(dest="action", required=True, metavar="ACTION")
    rotate = keys.add_parser(
        "rotate",
        help="make a new signing key current in every process",
        description="Make a new signing key current at once; the previous keys stay "
        "published for [oidc] key_retention seconds.",
    )
    rotate.add_argument("--json", action="store_true", help="the new key as JSON")
    rotate.set_defaults(handler=_keys_rotate)
    listing = keys.add_parser("list", help="the stored keys, the current one first")
    listing.add_argument("--json", action="store_true", help="a JSON array, never a private key")
    listing.set_defaults(handler=_keys_list)
