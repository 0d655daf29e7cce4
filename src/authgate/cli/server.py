"""`authgate serve` and `authgate migrate`."""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys

from authgate.cli.common import UserError
from authgate.config import Settings
from authgate.services import Services


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
    options = ServeOptions(
        config=os.path.abspath(config) if config else None,
        host=args.host,
        port=args.port,
        workers=args.workers,
        demo=args.demo,
    )
    return serve(settings, options)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser(
        "serve",
        help="run the HTTP server",
        description="Run authgate: the OAuth endpoints, the pages and the gateway routes.",
    )
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8080)")
    serve.add_argument("--workers", type=int, metavar="N", help="worker processes (default 1)")
    serve.add_argument("--demo", action="store_true", help="seed a demo client and user")
    serve.set_defaults(serve=_serve)

    commands.add_parser("migrate", help="create or upgrade the schema").set_defaults(
        handler=_migrate
    )
