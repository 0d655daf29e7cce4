"""The `authgate` command: one module per command group, each a thin face over the same
functions the server and the administration API use (authgate.operations)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

from authgate import __version__
from authgate.cli import accounts, clients, keys, routes, server, tokens
from authgate.cli.common import Handler, UserError, with_services
from authgate.config import load_settings
from authgate.errors import ConfigError, OAuthError, StoreUnavailable
from authgate.operations import Invalid, OperationError
from authgate.registry import AlreadyExists, InvalidClient
from authgate.usernames import InvalidUsername

__all__ = ["UserError", "build_parser", "main"]


DESCRIPTION = """\
authgate: an OAuth 2.0 authorization server with an API-gateway front.

It issues, refreshes, checks and revokes access tokens for client applications, and guards
upstream APIs by checking those tokens on every call. Every command reads the same
configuration (--config FILE or AUTHGATE_CONFIG; AUTHGATE_<SECTION>__<KEY> overrides), so a
client registered here is seen by a running server at once."""

EXAMPLES = """\
examples:
  authgate serve --port 8080
  authgate client create --name photos-app --redirect-uri https://app.example/cb \\
      --scope photos.read --json
  echo 's3cret-Passw0rd' | authgate user create alice --password-stdin
  authgate route add --path /api/photos --upstream http://127.0.0.1:9000 \\
      --scope photos.read --service photos

Run `authgate COMMAND --help` for the options of a command."""

# The CLI's spelling of the fields the operations name in their errors.
_OPTIONS = {
    "name": "--name",
    "redirect_uris": "--redirect-uri",
    "scopes": "--scope",
    "grant_types": "--grant-type",
    "introspect": "--introspect",
    "public": "--public",
    "grace": "--grace",
    "path": "--path",
    "upstream": "--upstream",
    "service": "--service",
    "timeout": "--timeout",
    "header_prefix": "--header-prefix",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="authgate",
        description=DESCRIPTION,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--config", metavar="FILE", help="TOML configuration file (or AUTHGATE_CONFIG)"
    )
    parser.add_argument("--version", action="version", version=f"authgate {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in (server, clients, accounts, routes, tokens, keys):
        group.register(commands)
    return parser


def _operation_message(exc: OperationError) -> str:
    if isinstance(exc, Invalid):
        field = exc.field.split(".", 1)[0]
        return f"{_OPTIONS.get(field, field)}: {exc.reason}"
    return exc.message


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
    except OperationError as exc:
        _fail(_operation_message(exc), 2)
    except OAuthError as exc:
        _fail(f"{exc.code}: {exc.description}", 2)
    except StoreUnavailable as exc:
        _fail(str(exc), 1)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    raise SystemExit(status)
