"""Pre-mint single-use credentials for the benchmark, with authgate's own API.

    python bench/mint.py codes   --config C --client ID --count N --out FILE
    python bench/mint.py refresh --config C --client ID --user U --count N --out FILE

`codes` inserts authorization codes into the configured code store, bound to the bench
redirect URI and without PKCE, the records the authorization endpoint would keep.
`refresh` issues what `authgate token create --client ID --user U --count N` issues, but
writes them in batches of one transaction each: the CLI writes one transaction per token
(about 4 ms each on SQLite), too slow for pools of tens of thousands.
Each file gets one value per line. A store in server memory (memory://) cannot be reached
from here; bench/run.py mints those through the server.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from authgate.config import load_settings
from authgate.models import Client, TokenRecord
from authgate.services import Services
from authgate.stores import Entry
from authgate.tokens import digest, generate_token, mint, new_grant_id, now

BATCH = 500
REDIRECT_URI = "http://127.0.0.1/cb"


async def mint_codes(
    services: Services, client_id: str, count: int, scopes: tuple[str, ...], redirect_uri: str
) -> list[str]:
    settings = services.settings.authorization_code
    codes: list[str] = []
    while len(codes) < count:
        issued_at = now()
        batch = []
        for _ in range(min(BATCH, count - len(codes))):
            code = generate_token(settings.code_length)
            record = TokenRecord(
                kind="authorization_code",
                client_id=client_id,
                grant_id=new_grant_id(),
                scopes=scopes,
                issued_at=issued_at,
                expires_at=issued_at + settings.code_expiry,
                subject="bench",
                username="bench",
                redirect_uri=redirect_uri,
                code_challenge=None,
            )
            batch.append((digest(code), record))
            codes.append(code)
        await services.codes.put(batch)
    return codes


async def mint_refresh_tokens(
    services: Services, client: Client, user: str, count: int, scopes: tuple[str, ...]
) -> list[str]:
    settings = services.settings.token_settings("password")  # as `token create --user`
    tokens: list[str] = []
    while len(tokens) < count:
        entries: list[Entry] = []
        for _ in range(min(BATCH, count - len(tokens))):
            base = TokenRecord(
                kind="access_token",
                client_id=client.client_id,
                grant_id=new_grant_id(),
                scopes=scopes,
                issued_at=0,
                expires_at=0,
                subject=user,
                username=user,
            )
            grant = mint(base, settings, client=client, with_refresh=True)
            assert grant.refresh is not None
            entries.extend((t.key, t.record) for t in grant.records)
            tokens.append(grant.refresh.value)
        await services.tokens.put(entries)
    return tokens


async def main_async(args: argparse.Namespace) -> list[str]:
    settings = load_settings(args.config)
    services = await Services.open(settings)
    try:
        client = await services.registry.get_client(args.client)
        if client is None:
            raise SystemExit(f"mint: no client {args.client}")
        scopes = tuple(args.scope)
        if args.what == "codes":
            values = await mint_codes(services, args.client, args.count, scopes, args.redirect_uri)
        else:
            values = await mint_refresh_tokens(services, client, args.user, args.count, scopes)
    finally:
        await services.close()
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["codes", "refresh"])
    parser.add_argument("--config", required=True)
    parser.add_argument("--client", required=True)
    parser.add_argument("--user", default="bench")
    parser.add_argument("--scope", action="append", default=[])
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--redirect-uri", default=REDIRECT_URI)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    values = asyncio.run(main_async(args))
    Path(args.out).write_text("".join(v + "\n" for v in values))


if __name__ == "__main__":
    main()
