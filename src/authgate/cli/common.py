"""What every `authgate` command shares: its errors, its output, its services."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from authgate.config import Settings
from authgate.operations import Caller
from authgate.services import Services

Handler = Callable[[argparse.Namespace, Services], Awaitable[int]]


class UserError(Exception):
    """A mistake of the caller: one line on stderr, exit status 2."""


def cli_caller() -> Caller:
    """The operator at the command line, named by the operating-system account."""
    try:
        name = getpass.getuser()
    except (OSError, KeyError):
        name = ""
    return Caller("cli", name)


def json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON document")


def print_json(value: Any) -> None:
    print(json.dumps(value, separators=(",", ":")))


def read_password(args: argparse.Namespace) -> str:
    if not args.password_stdin:
        raise UserError("--password-stdin is required")
    line = sys.stdin.readline()
    password = line[:-1] if line.endswith("\n") else line
    password = password[:-1] if password.endswith("\r") else password
    if not password:
        raise UserError("the password read from stdin is empty")
    return password


async def with_services(settings: Settings, work: Callable[[Services], Awaitable[int]]) -> int:
    services = await Services.open(settings)
    try:
        return await work(services)
    finally:
        await services.close()
