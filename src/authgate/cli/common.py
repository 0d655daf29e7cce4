"""What every `authgate` command shares: its errors, its output, its services."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from authgate.config import Settings
from authgate.services import Services

Handler = Callable[[argparse.Namespace, Services], Awaitable[int]]


class UserError(Exception):
    """A mistake of the caller: one line on stderr, exit status 2."""


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
