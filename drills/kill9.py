"""kill -9 under load: authgate on SQLite, then on PostgreSQL, is killed with SIGKILL while
clients obtain and rotate tokens. After the restart, every token whose 200 reached its client
must still introspect active, and every refresh token rotated out (its rotation's 200 seen)
must stay refused. Figure: tokens lost, 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from drills import load, stores
from drills.harness import Authgate, Report, arguments, log, workdir

SCOPE = "read"


@dataclass
class Ledger:
    """What the clients saw: tokens whose 200 arrived, and refresh tokens rotated out."""

    access: list[str] = field(default_factory=list)
    live_refresh: dict[int, str] = field(default_factory=dict)  # chain -> its newest token
    rotated_out: list[str] = field(default_factory=list)
    uncertain: int = 0  # requests without an answer when the server died


@dataclass
class Setup:
    app: dict[str, Any]
    introspector: dict[str, Any]
    seeds: list[str]


def prepare(server: Authgate, chains: int) -> Setup:
    app = server.client(
        "drill-app",
        *("--scope", SCOPE, "--grant-type", "client_credentials"),
        *("--grant-type", "refresh_token", "--grant-type", "password"),
    )
    introspector = server.client(
        "drill-resource-server", "--introspect", "--grant-type", "client_credentials"
    )
    server.user("alice", "alice-password-1")
    return Setup(app, introspector, seed(server, app, chains))


def seed(server: Authgate, app: dict[str, Any], chains: int) -> list[str]:
    """Fresh refresh tokens of alice, one per rotation chain."""
    lines = server.cli(
        "token", "create", "--client", app["client_id"], "--user", "alice",
        "--count", str(chains), "--json",
    )  # fmt: skip
    return [json.loads(line)["refresh_token"] for line in lines.splitlines() if line.strip()]


async def load_until_killed(
    server: Authgate, setup: Setup, ledger: Ledger, *, seconds: float, workers: int
) -> float:
    """Issue and rotate until the server is killed at a random moment; returns that moment."""
    auth = (setup.app["client_id"], setup.app["client_secret"])
    token_url = f"{server.url}/oauth2/token"
    kill_at = random.uniform(0.4, 0.8) * seconds
    dead = asyncio.Event()

    async def issue(http: httpx.AsyncClient) -> None:
        form = {"grant_type": "client_credentials", "scope": SCOPE}
        sample = await load.send(http, "issue", "POST", token_url, data=form, auth=auth)
        if sample.status == 200:
            ledger.access.append(sample.body["access_token"])
        elif sample.status == 0:
            ledger.uncertain += 1

    async def rotate(http: httpx.AsyncClient, chain: int) -> None:
        presented = ledger.live_refresh[chain]
        form = {"grant_type": "refresh_token", "refresh_token": presented}
        sample = await load.send(http, "rotate", "POST", token_url, data=form, auth=auth)
        if sample.status == 200:
            ledger.access.append(sample.body["access_token"])
            ledger.live_refresh[chain] = sample.body["refresh_token"]
            ledger.rotated_out.append(presented)
        elif sample.status == 0:
            # Unknown whether the server rotated it: the chain is checked no further.
            ledger.uncertain += 1
            del ledger.live_refresh[chain]

    async def worker(index: int, http: httpx.AsyncClient) -> None:
        chain = index
        while not dead.is_set():
            if index % 2 == 0:
                await issue(http)
            elif chain in ledger.live_refresh:
                await rotate(http, chain)
            else:
                await asyncio.sleep(0.05)

    async def killer() -> None:
        await asyncio.sleep(kill_at)
        server.kill9()
        dead.set()

    for index, seed in enumerate(setup.seeds):
        ledger.live_refresh[index] = seed
    async with load.client(workers) as http:
        await asyncio.gather(killer(), *(worker(i, http) for i in range(workers)))
    return kill_at


async def verify(server: Authgate, setup: Setup, ledger: Ledger) -> dict[str, int]:
    auth = (setup.introspector["client_id"], setup.introspector["client_secret"])
    url = f"{server.url}/oauth2/introspect"
    lost = errors = resurrected = 0
    must_live = ledger.access + list(ledger.live_refresh.values())

    async with load.client(8) as http:
        semaphore = asyncio.Semaphore(8)

        async def active(token: str) -> bool | None:
            async with semaphore:
                sample = await load.send(
                    http, "check", "POST", url, data={"token": token}, auth=auth
                )
            return sample.body.get("active") if sample.status == 200 else None

        for verdict in await asyncio.gather(*(active(t) for t in must_live)):
            lost += verdict is False
            errors += verdict is None
        for verdict in await asyncio.gather(*(active(t) for t in ledger.rotated_out)):
            resurrected += verdict is True
            errors += verdict is None
        # Last, as a thief would: present each rotated-out token. A refusal revokes the
        # family, so this runs after every check of the live tokens.
        app = (setup.app["client_id"], setup.app["client_secret"])
        for token in ledger.rotated_out[:200]:
            form = {"grant_type": "refresh_token", "refresh_token": token}
            sample = await load.send(
                http, "replay", "POST", f"{server.url}/oauth2/token", data=form, auth=app
            )
            resurrected += sample.status == 200
            errors += sample.status not in (200, 400)
    return {"checked": len(must_live), "lost": lost, "resurrected": resurrected, "errors": errors}


def drill_store(report: Report, store: str, server: Authgate, rounds: int, seconds: float) -> None:
    setup = prepare(server, chains=8)
    totals = {"issued": 0, "rotations": 0, "checked": 0, "lost": 0, "resurrected": 0}
    totals |= {"errors": 0, "uncertain": 0}
    restart_seconds: list[float] = []
    for round_ in range(rounds):
        ledger = Ledger()
        server.start()
        kill_at = asyncio.run(load_until_killed(server, setup, ledger, seconds=seconds, workers=8))
        started = time.monotonic()
        server.start()
        restart_seconds.append(time.monotonic() - started)
        found = asyncio.run(verify(server, setup, ledger))
        server.stop()
        log(f"kill9 {store} round {round_ + 1}: killed at {kill_at:.1f} s, {found}")
        totals["issued"] += len(ledger.access)
        totals["rotations"] += len(ledger.rotated_out)
        totals["uncertain"] += ledger.uncertain
        for key in ("checked", "lost", "resurrected", "errors"):
            totals[key] += found[key]
        # The next round rotates fresh chains: the replays above revoked these.
        setup.seeds = seed(server, setup.app, chains=8)
    report.add(f"{store}: SIGKILLs under load", rounds)
    report.add(f"{store}: access tokens whose 200 arrived", totals["issued"])
    report.add(f"{store}: refresh rotations whose 200 arrived", totals["rotations"])
    report.add(f"{store}: requests cut by the kill (outcome unknown)", totals["uncertain"])
    report.add(f"{store}: restart to /healthz, max s", round(max(restart_seconds), 2))
    report.add(f"{store}: tokens lost", totals["lost"], "0", totals["lost"] == 0)
    ok = totals["resurrected"] == 0
    report.add(f"{store}: rotated-out refresh tokens accepted", totals["resurrected"], "0", ok)
    report.add(f"{store}: failed checks", totals["errors"], "0", totals["errors"] == 0)
    traces = server.tracebacks()
    report.add(f"{store}: tracebacks in the log", len(traces), "0", not traces)
    for trace in sorted(set(traces)):
        report.note(f"{store} traceback: {trace}")


@contextlib.contextmanager
def on_postgresql() -> Iterator[Authgate]:
    with stores.postgres() as pg:
        server = Authgate(workdir("kill9-pg"), f'[storage]\nurl = "{pg.url}"\n')
        server.cli("migrate")
        try:
            yield server
        finally:
            server.stop()


def main() -> int:
    args = arguments(__doc__ or "")
    report = Report("kill9")
    rounds, seconds = (1, 3.0) if args.quick else (3, 10.0)
    sqlite = Authgate(workdir("kill9-sqlite"))
    try:
        drill_store(report, "sqlite", sqlite, rounds, seconds)
    finally:
        sqlite.stop()
    with on_postgresql() as server:
        drill_store(report, "postgresql", server, rounds, seconds)
    return report.finish(args.out)


if __name__ == "__main__":
    raise SystemExit(main())
