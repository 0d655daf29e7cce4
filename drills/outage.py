"""Store outages under load: authgate's PostgreSQL registry and Redis token store (both
throwaway servers of this drill), then an LDAP directory, then a user policy that hangs, are
made unavailable and restored while clients keep asking. While a dependency is down the only
allowed failure is 503 `temporarily_unavailable`, never a wrong verdict (a valid client refused,
an active token reported inactive, a right password refused); service is back within 5 s of the
dependency.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from drills import load, stores
from drills.harness import Authgate, Report, arguments, log, running, workdir
from drills.load import Sample
from drills.policies import HANG_FILE, PASSWORDS

RECOVERY_TARGET = 5.0  # seconds from the dependency back to service back

# kind -> (status, error or None) of the right answer; 503 temporarily_unavailable is the only
# other answer allowed, and only while the dependency is down.
EXPECTED = {
    "grant": (200, None),
    "wrong-secret": (401, "invalid_client"),
    "introspect": (200, None),
    "refresh": (200, None),
    "right-password": (200, None),
    "wrong-password": (400, "invalid_grant"),
}


def is_right(sample: Sample) -> bool:
    status, error = EXPECTED[sample.kind]
    if sample.status != status or sample.error_code != error:
        return False
    return sample.kind != "introspect" or sample.body.get("active") is True


def is_unavailable(sample: Sample) -> bool:
    return sample.status == 503 and sample.error_code == "temporarily_unavailable"


@dataclass
class Phase:
    dependency: str
    down: Callable[[], None]
    up: Callable[[], None]


class Repeat:
    """Runs `action` in a thread again and again, from `start()` to `stop()`."""

    def __init__(self, action: Callable[[], None], pause: float = 0.05) -> None:
        self.action = action
        self.pause = pause
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None

    def _loop(self) -> None:
        while not self.stopping.wait(self.pause):
            self.action()

    def start(self) -> None:
        self.stopping.clear()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join()


@dataclass
class Window:
    down_at: float = 0.0
    up_at: float = 0.0


Call = Callable[[httpx.AsyncClient], Awaitable[Sample]]
Kinds = list[tuple[str, Call]]


async def drive(
    phase: Phase, kinds: Kinds, per_kind: int, *, before: float, hold: float, after: float
) -> tuple[list[Sample], Window]:
    """Load with every kind while `phase` takes its dependency down and up again."""
    samples: list[Sample] = []
    window = Window()
    stop = asyncio.Event()

    async def worker(index: int, http: httpx.AsyncClient) -> None:
        _, call = kinds[index % len(kinds)]
        while not stop.is_set():
            samples.append(await call(http))
            await asyncio.sleep(0.01)

    async def fault() -> None:
        await asyncio.sleep(before)
        window.down_at = time.monotonic()
        await asyncio.to_thread(phase.down)
        await asyncio.sleep(hold)
        await asyncio.to_thread(phase.up)
        window.up_at = time.monotonic()  # the dependency answers again from here on
        await asyncio.sleep(after)
        stop.set()

    workers = len(kinds) * per_kind
    async with load.client(workers, timeout=30) as http:
        await asyncio.gather(fault(), *(worker(i, http) for i in range(workers)))
    return samples, window


def judge(report: Report, dependency: str, samples: list[Sample], window: Window) -> None:
    replays = [s for s in samples if s.kind == "refresh-after-503"]
    samples = [s for s in samples if s.kind != "refresh-after-503"]
    down = [s for s in samples if window.down_at <= s.started < window.up_at]
    wrong = [s for s in samples if not is_right(s) and not is_unavailable(s) and s.status < 500]
    other = [s for s in samples if not is_right(s) and not is_unavailable(s) and s.status >= 500]
    lost = [s for s in samples if s.status == 0]
    # Back: from the dependency's return to the first request of each kind after which that
    # kind never failed again.
    recovery = 0.0
    for kind in {s.kind for s in samples}:
        of_kind = sorted((s for s in samples if s.kind == kind), key=lambda s: s.started)
        failed = [s for s in of_kind if not is_right(s)]
        if failed:
            last = failed[-1]
            recovery = max(recovery, last.started + last.latency - window.up_at)
    unavailable_outside = [
        s for s in samples if is_unavailable(s) and s.started + s.latency < window.down_at
    ]
    report.add(f"{dependency}: requests while down", len(down))
    report.add(f"{dependency}: of them 503 temporarily_unavailable", sum(map(is_unavailable, down)))
    report.add(f"{dependency}: wrong verdicts", len(wrong), "0", not wrong)
    report.add(f"{dependency}: other 5xx", len(other), "0", not other)
    report.add(f"{dependency}: no answer (timeout, reset)", len(lost), "0", not lost)
    report.add(f"{dependency}: 503 before the fault", len(unavailable_outside), "0")
    ok = recovery <= RECOVERY_TARGET
    report.add(f"{dependency}: back after the dependency, s", round(max(recovery, 0), 2), "≤ 5", ok)
    if replays:
        report.add(f"{dependency}: rotations whose 503 hid a commit (retry refused)", len(replays))
    for sample in (wrong + other)[:5]:
        report.note(f"{dependency}: {sample.kind} got {sample.status} {str(sample.body)[:120]}")


def client_kinds(server: Authgate) -> Kinds:
    app = server.client(
        "drill-app",
        *("--grant-type", "client_credentials", "--grant-type", "refresh_token"),
        *("--scope", "read"),
    )
    checker = server.client("drill-rs", "--introspect", "--grant-type", "client_credentials")
    token = server.cli("token", "create", "--client", app["client_id"], "--json")
    access = json.loads(token)["access_token"]
    auth = (app["client_id"], app["client_secret"])
    wrong = (app["client_id"], "not-the-secret")
    check = (checker["client_id"], checker["client_secret"])
    token_url, introspect_url = f"{server.url}/oauth2/token", f"{server.url}/oauth2/introspect"
    grant = {"grant_type": "client_credentials"}

    async def good(http: httpx.AsyncClient) -> Sample:
        return await load.send(http, "grant", "POST", token_url, data=grant, auth=auth)

    async def bad(http: httpx.AsyncClient) -> Sample:
        return await load.send(http, "wrong-secret", "POST", token_url, data=grant, auth=wrong)

    async def introspect(http: httpx.AsyncClient) -> Sample:
        form = {"token": access}
        return await load.send(http, "introspect", "POST", introspect_url, data=form, auth=check)

    return [
        ("grant", good),
        ("wrong-secret", bad),
        ("introspect", introspect),
        ("refresh", rotation(server, app)),
    ]


def rotation(server: Authgate, app: dict[str, Any]) -> Call:
    """Refresh token rotation over chains of alice's tokens; a token whose rotation answered
    503 is presented again, as a client retries."""
    server.user("alice", "alice-password")
    minted = server.cli(
        "token", "create", "--client", app["client_id"], "--user", "alice", "--count", "40",
        "--json",
    )  # fmt: skip
    chains: asyncio.Queue[tuple[str, bool]] = asyncio.Queue()
    for line in minted.splitlines():
        chains.put_nowait((json.loads(line)["refresh_token"], False))
    auth = (app["client_id"], app["client_secret"])
    url = f"{server.url}/oauth2/token"

    async def refresh(http: httpx.AsyncClient) -> Sample:
        token, retried = await chains.get()
        form = {"grant_type": "refresh_token", "refresh_token": token}
        sample = await load.send(http, "refresh", "POST", url, data=form, auth=auth)
        if sample.status == 200:
            chains.put_nowait((sample.body["refresh_token"], False))
        elif is_unavailable(sample) or sample.status == 0:
            chains.put_nowait((token, True))
        elif retried and sample.error_code == "invalid_grant":
            # The rotation committed but its answer was lost to the outage: the retry is a
            # replay. Counted apart, and the chain ends here.
            sample.kind = "refresh-after-503"
        return sample

    return refresh


def password_kinds(server: Authgate) -> Kinds:
    app = server.client("drill-app", "--grant-type", "password", "--scope", "read")
    auth = (app["client_id"], app["client_secret"])
    url = f"{server.url}/oauth2/token"

    def attempt(kind: str, username: str, password: str) -> tuple[str, Call]:
        form = {"grant_type": "password", "username": username, "password": password}

        async def call(http: httpx.AsyncClient) -> Sample:
            return await load.send(http, kind, "POST", url, data=form, auth=auth)

        return kind, call

    # Driven by one worker per kind: alice's right password is never sent twice at
    # once, which keeps the lockout's known concurrency bug (issue 11, item 12) out of sight.
    return [
        attempt("right-password", "alice", PASSWORDS["alice"]),
        attempt("wrong-password", "bob", "not-bobs-password"),
    ]


def drill(
    report: Report, phase: Phase, kinds: Kinds, timing: dict[str, float], *, per_kind: int = 2
) -> None:
    samples, window = asyncio.run(drive(phase, kinds, per_kind, **timing))
    log(f"outage {phase.dependency}: {len(samples)} requests")
    judge(report, phase.dependency, samples, window)


def postgresql_drill(report: Report, timing: dict[str, float]) -> None:
    """The registry and the token store on one PostgreSQL server (asyncpg under both)."""
    with stores.postgres() as pg:
        server = Authgate(workdir("outage-pg"), f'[storage]\nurl = "{pg.url}"\n')
        server.cli("migrate")
        kinds = client_kinds(server)
        with running(server):
            # Stopped as an operator (systemd) stops it: fast mode ends every session at once.
            down = Phase("postgresql", lambda: pg.stop("fast"), pg.start)
            drill(report, down, kinds, timing)
            killer = Repeat(pg.end_sessions)
            drill(
                report, Phase("postgresql sessions ended", killer.start, killer.stop), kinds, timing
            )
        add_tracebacks(report, "postgresql", server)


def redis_drill(report: Report, timing: dict[str, float]) -> None:
    """The token store on Redis; the registry stays on SQLite."""
    with stores.redis() as redis:
        server = Authgate(workdir("outage-redis"), f'[storage]\ntokens = "{redis.url}"\n')
        kinds = client_kinds(server)
        with running(server):
            drill(report, Phase("redis", redis.stop, redis.start), kinds, timing)
        add_tracebacks(report, "redis", server)


def ldap_drill(report: Report, timing: dict[str, float]) -> None:
    from tests.slapd import PEOPLE, start_slapd  # the test suite's throwaway slapd

    directory = workdir("outage-ldap")
    (directory / "slapd").mkdir()
    with start_slapd(directory / "slapd") as slapd:
        config = (
            '[flows.password]\nusers = "ldap"\n'
            f'[ldap]\nurl = "{slapd.url}"\nuser_base = "{PEOPLE}"\ntimeout = 2\n'
        )
        server = Authgate(directory, config)
        kinds = password_kinds(server)
        with running(server):
            drill(report, Phase("ldap", slapd.stop, slapd.start), kinds, timing, per_kind=1)
        add_tracebacks(report, "ldap", server)


def policy_drill(report: Report, timing: dict[str, float]) -> None:
    directory = workdir("outage-policy")
    flag = directory / "policy-hangs"
    config = '[flows.password]\nusers = "policy"\npolicy = "drills.policies:user"\n'
    server = Authgate(directory, config, env={HANG_FILE: str(flag)})
    kinds = password_kinds(server)
    # The policy's own timeout (10 s) must pass before a hung call answers 503.
    policy_timing = dict(timing, hold=max(timing["hold"], 12.0))
    with running(server):
        phase = Phase("hanging policy", flag.touch, flag.unlink)
        drill(report, phase, kinds, policy_timing, per_kind=1)
    add_tracebacks(report, "policy", server)


DEPENDENCIES = {
    "postgresql": postgresql_drill,
    "redis": redis_drill,
    "ldap": ldap_drill,
    "policy": policy_drill,
}


def main() -> int:
    only = {
        "help": "comma-separated: postgresql, redis, ldap, policy",
        "default": ",".join(DEPENDENCIES),
    }
    args = arguments(__doc__ or "", [("--only", only)])
    report = Report("outage")
    timing = {"before": 2.0, "hold": 3.0, "after": 8.0}
    if not args.quick:
        timing = {"before": 5.0, "hold": 15.0, "after": 15.0}
    for name in args.only.split(","):
        DEPENDENCIES[name](report, timing)
    return report.finish(args.out)


def add_tracebacks(report: Report, name: str, server: Authgate) -> None:
    traces = server.tracebacks()
    report.add(f"{name}: tracebacks in the log", len(traces), "0", not traces)
    for trace in sorted(set(traces)):
        report.note(f"{name} traceback: {trace}")


if __name__ == "__main__":
    raise SystemExit(main())
