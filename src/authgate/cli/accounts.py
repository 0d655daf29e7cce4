"""`authgate user ...` and `authgate admin ...`: local users and the manager's administrators."""

from __future__ import annotations

import argparse
import sys

from authgate.cli.common import print_json, read_password
from authgate.services import Services
from authgate.usernames import canonical_username


async def _user_create(args: argparse.Namespace, services: Services) -> int:
    name = await services.registry.create_user(args.username, read_password(args))
    _report_canonical(args.username, name)
    if args.json:
        print_json({"username": name})
    return 0


async def _user_unlock(args: argparse.Namespace, services: Services) -> int:
    lifted = await services.lockout.unlock(args.username)
    name = canonical_username(args.username)
    print(f"{name}: {'lock lifted' if lifted else 'was not locked'}", file=sys.stderr)
    return 0


async def _admin_create(args: argparse.Namespace, services: Services) -> int:
    name = await services.registry.create_admin(args.username, read_password(args))
    _report_canonical(args.username, name)
    return 0


def _report_canonical(given: str, stored: str) -> None:
    """Names are stored in canonical form (authgate.usernames): say so when it differs."""
    if stored != given:
        print(f"stored as {stored!r}, the canonical form of {given!r}", file=sys.stderr)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    user = commands.add_parser("user", help="Local User Store").add_subparsers(
        dest="action", required=True
    )
    user_create = user.add_parser("create")
    user_create.add_argument("username")
    user_create.add_argument("--password-stdin", action="store_true")
    user_create.add_argument("--json", action="store_true")
    user_create.set_defaults(handler=_user_create)
    user_unlock = user.add_parser("unlock", help="lift a brute-force lock")
    user_unlock.add_argument("username")
    user_unlock.set_defaults(handler=_user_unlock)

    admin = commands.add_parser("admin", help="administrators of the manager").add_subparsers(
        dest="action", required=True
    )
    admin_create = admin.add_parser("create")
    admin_create.add_argument("username")
    admin_create.add_argument("--password-stdin", action="store_true")
    admin_create.set_defaults(handler=_admin_create)
