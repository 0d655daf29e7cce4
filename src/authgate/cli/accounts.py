"""`authgate user ...` and `authgate admin ...`: local users and the manager's administrators."""

from __future__ import annotations

import argparse
import sys

from authgate.cli.common import cli_caller, json_flag, print_json, read_password
from authgate.operations import parse, users
from authgate.services import Services


async def _user_create(args: argparse.Namespace, services: Services) -> int:
    request = parse(users.UserCreate, {"username": args.username, "password": read_password(args)})
    created = await users.create_user(services, cli_caller(), request)
    _report_canonical(args.username, created.username)
    if args.json:
        print_json(created.model_dump())
    return 0


async def _user_list(args: argparse.Namespace, services: Services) -> int:
    found = await users.list_users(services)
    if args.json:
        print_json([user.model_dump() for user in found])
        return 0
    for user in found:
        print(f"{user.username}{'  locked' if user.locked else ''}")
    return 0


async def _user_delete(args: argparse.Namespace, services: Services) -> int:
    revoked = await users.delete_user(services, cli_caller(), args.username)
    print(f"deleted {args.username}; revoked {revoked} tokens and its consents", file=sys.stderr)
    return 0


async def _user_password(args: argparse.Namespace, services: Services) -> int:
    changes = parse(users.UserChanges, {"password": read_password(args)})
    await users.update_user(services, cli_caller(), args.username, changes)
    print(f"{args.username}: password changed", file=sys.stderr)
    return 0


async def _user_unlock(args: argparse.Namespace, services: Services) -> int:
    lifted = await users.unlock_user(services, cli_caller(), args.username)
    print(f"{args.username}: {'lock lifted' if lifted else 'was not locked'}", file=sys.stderr)
    return 0


async def _admin_create(args: argparse.Namespace, services: Services) -> int:
    request = parse(users.UserCreate, {"username": args.username, "password": read_password(args)})
    created = await users.create_admin(services, cli_caller(), request)
    _report_canonical(args.username, created.username)
    return 0


def _report_canonical(given: str, stored: str) -> None:
    """Names are stored in canonical form (authgate.usernames): say so when it differs."""
    if stored != given:
        print(f"stored as {stored!r}, the canonical form of {given!r}", file=sys.stderr)


async def _admin_list(args: argparse.Namespace, services: Services) -> int:
    found = await users.list_admins(services)
    if args.json:
        print_json([admin.model_dump() for admin in found])
        return 0
    for admin in found:
        print(admin.username)
    return 0


async def _admin_delete(args: argparse.Namespace, services: Services) -> int:
    await users.delete_admin(services, cli_caller(), args.username)
    print(f"deleted administrator {args.username}", file=sys.stderr)
    return 0


def _password_stdin(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input (required)",
    )


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    user = commands.add_parser(
        "user", help="manage the Local User Store", description="The Local User Store."
    ).add_subparsers(dest="action", required=True, metavar="ACTION")
    user_create = user.add_parser("create", help="add a user")
    user_create.add_argument("username", help="the name the user logs in with")
    _password_stdin(user_create)
    json_flag(user_create)
    user_create.set_defaults(handler=_user_create)
    user_list = user.add_parser("list", help="list users (never their passwords)")
    json_flag(user_list)
    user_list.set_defaults(handler=_user_list)
    user_delete = user.add_parser("delete", help="delete a user, its tokens and consents")
    user_delete.add_argument("username", help="the user's name")
    user_delete.set_defaults(handler=_user_delete)
    user_password = user.add_parser("password", help="set a user's password")
    user_password.add_argument("username", help="the user's name")
    _password_stdin(user_password)
    user_password.set_defaults(handler=_user_password)
    user_unlock = user.add_parser("unlock", help="lift a brute-force lock")
    user_unlock.add_argument("username", help="the locked name")
    user_unlock.set_defaults(handler=_user_unlock)

    admin = commands.add_parser(
        "admin",
        help="manage the administrators of /manager",
        description="The administrators of the web manager.",
    ).add_subparsers(dest="action", required=True, metavar="ACTION")
    admin_create = admin.add_parser("create", help="add an administrator")
    admin_create.add_argument("username", help="the name the administrator logs in with")
    _password_stdin(admin_create)
    admin_create.set_defaults(handler=_admin_create)
    admin_list = admin.add_parser("list", help="list administrators")
    json_flag(admin_list)
    admin_list.set_defaults(handler=_admin_list)
    admin_delete = admin.add_parser("delete", help="delete an administrator")
    admin_delete.add_argument("username", help="the administrator's name")
    admin_delete.set_defaults(handler=_admin_delete)
