"""The `authgate` command (SPEC.md, "Command line"): one module per command group, each a thin
face over the same functions the server uses."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

from authgate.cli import accounts, clients, keys, server, tokens
from authgate.cli.common import Handler, UserError, with_services
from authgate.config import load_settings
from authgate.errors import ConfigError, OAuthError, StoreUnavailable
from authgate.registry import AlreadyExists, InvalidClient
from authgate.usernames import InvalidUsername

__all__ = ["UserError", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="authgate", description=__doc__)
    parser.add_argument("--config", help="TOML configuration file (or AUTHGATE_CONFIG)")
    commands = parser.add_subparsers(dest="command", required=True)
    for group in (server, clients, accounts, tokens, keys):
        group.register(commands)
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
        status = asyncio.run(with_services(settings, lambda s: handler(args, s)))
    except ConfigError as exc:
        _fail(str(exc), 2)
    except (UserError, AlreadyExists, InvalidUsername, InvalidClient) as exc:
        _fail(str(exc), 2)
    except OAuthError as exc:
        _fail(f"{exc.code}: {exc.description}", 2)
    except StoreUnavailable as exc:
        _fail(str(exc), 1)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    raise SystemExit(status)
