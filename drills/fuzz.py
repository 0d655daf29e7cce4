"""Fuzzing: generated requests against the OAuth endpoints, the pages, a gateway route and
(where it exists) the administration API. Two sources: Hypothesis strategies for the method,
path, form fields, query and headers (sent with httpx), and raw HTTP/1.1 requests mutated byte
by byte, in their request line, headers and body (sent over plain sockets). Figures: 5xx
answers, tracebacks in the server's log, hangs (no answer and no close within 10 s).
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import httpx
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from drills import load
from drills.harness import (
    Authgate,
    DrillError,
    Report,
    arguments,
    gateway_route,
    log,
    running,
    upstream,
)
from drills.harness import workdir as make_workdir
from drills.mutations import leave_early, raw_requests, send_raw

HANG_SECONDS = 10.0
LEAVE_EARLY = 0.05  # share of raw requests whose client leaves before the answers
PATHS = [
    ("POST", "/oauth2/token"),
    ("POST", "/oauth2/introspect"),
    ("POST", "/oauth2/revoke"),
    ("GET", "/oauth2/authorize"),
    ("POST", "/oauth2/authorize"),
    ("GET", "/.well-known/oauth-authorization-server"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/manager/login"),
    ("POST", "/manager/login"),
    ("GET", "/manager"),
    ("GET", "/api"),
    ("POST", "/api/items"),
    ("GET", "/static/authgate.css"),
]
PARAMS = [
    *("grant_type", "client_id", "client_secret", "code", "redirect_uri", "code_verifier"),
    *("refresh_token", "scope", "username", "password", "token", "token_type_hint"),
    *("response_type", "state", "code_challenge", "code_challenge_method", "nonce"),
    *("prompt", "max_age", "decision", "csrf_token", "access_token"),
]
HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80)


@dataclass
class Known:
    """Real values of this server, mixed into the generated ones to get past the first checks."""

    values: list[str]
    basic: list[str]
    bearer: list[str]


@dataclass(frozen=True)
class Generated:
    method: str
    path: str
    fields: tuple[tuple[str, str], ...]
    headers: tuple[tuple[str, str], ...]
    body: str  # "form", "query", "json", "raw"
    raw: bytes


def strategy(known: Known) -> st.SearchStrategy[Generated]:
    value = st.one_of(
        st.sampled_from(known.values),
        st.text(max_size=40),
        st.text(
            st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1000, max_size=3000
        ),
    )
    name = st.one_of(st.sampled_from(PARAMS), st.text(max_size=12))
    authorization = st.one_of(
        st.sampled_from(known.basic),
        st.sampled_from([f"Bearer {t}" for t in known.bearer]),
        st.builds(
            lambda user, secret: "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode(),
            st.text(max_size=20),
            st.text(max_size=20),
        ),
        st.builds("Bearer {}".format, HEADER_TEXT),
        HEADER_TEXT,
    )
    content_type = st.one_of(
        st.sampled_from(
            [
                "application/x-www-form-urlencoded",
                "application/x-www-form-urlencoded;charset=UTF-8",
                "application/json",
                "multipart/form-data; boundary=x",
                "text/plain",
            ]
        ),
        HEADER_TEXT,
    )
    header = st.one_of(
        st.tuples(st.just("Authorization"), authorization),
        st.tuples(st.just("Content-Type"), content_type),
        st.tuples(
            st.sampled_from(
                ["Origin", "Cookie", "Accept", "Host", "X-Authgate-Subject", "X_Authgate_Subject"]
            ),
            HEADER_TEXT,
        ),
    )
    method = st.one_of(
        st.just(None), st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
    )
    path = st.one_of(
        st.sampled_from(PATHS),
        st.tuples(st.just("GET"), st.builds(lambda s: "/api/" + quote(s), st.text(max_size=30))),
    )
    return st.builds(
        lambda m, p, f, h, b, r: Generated(m or p[0], p[1], tuple(f), tuple(h), b, r),
        method,
        path,
        st.lists(st.tuples(name, value), max_size=8),
        st.lists(header, max_size=4),
        st.sampled_from(["form", "form", "query", "json", "raw"]),
        st.binary(max_size=200),
    )


def generate(known: Known, count: int, seed_value: int) -> list[Generated]:
    found: list[Generated] = []

    @seed(seed_value)
    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy(known))
    def collect(request: Generated) -> None:
        found.append(request)

    collect()
    return found


def as_httpx(base: str, g: Generated) -> dict[str, Any]:
    headers = dict(g.headers)
    url = base + g.path
    options: dict[str, Any] = {"headers": headers}
    if g.body == "query":
        url += "?" + urlencode(g.fields)
    elif g.body == "form":
        options["content"] = urlencode(g.fields).encode()
        headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
    elif g.body == "json":
        options["content"] = json.dumps(dict(g.fields)).encode()
    else:
        options["content"] = g.raw
    return {"method": g.method, "url": url, **options}


@dataclass
class Tally:
    sent: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    hangs: int = 0
    unsendable: int = 0
    left_early: int = 0
    examples: list[str] = field(default_factory=list)

    def record(self, status: int | None, what: str) -> None:
        self.sent += 1
        if status is None:
            self.hangs += 1
            self.examples.append(f"hang: {what[:150]}")
            return
        self.statuses[status] += 1
        if status >= 500 and len(self.examples) < 20:
            self.examples.append(f"{status}: {what[:150]}")

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)


async def send_generated(base: str, requests: list[Generated], tally: Tally) -> None:
    semaphore = asyncio.Semaphore(16)
    async with load.client(16, timeout=HANG_SECONDS) as http:

        async def one(g: Generated) -> None:
            try:
                built = http.build_request(**as_httpx(base, g))
            except (httpx.HTTPError, httpx.InvalidURL, ValueError, TypeError, UnicodeError):
                tally.unsendable += 1  # httpx refuses to send it: the raw part covers those
                return
            async with semaphore:
                try:
                    response = await http.send(built)
                    tally.record(response.status_code, f"{g.method} {g.path} {g.fields}")
                except httpx.TimeoutException:
                    tally.record(None, f"{g.method} {g.path} {g.fields}")
                except httpx.HTTPError:
                    tally.unsendable += 1

        await asyncio.gather(*(one(g) for g in requests))


async def send_mutated(port: int, requests: list[bytes], tally: Tally) -> None:
    semaphore = asyncio.Semaphore(32)
    rng = random.Random(7)

    async def one(raw: bytes) -> None:
        if rng.random() < LEAVE_EARLY:
            # Pipelined three times, and the client gone before the answers.
            async with semaphore:
                await leave_early(port, raw * 3, rng.choice([0, 0.001, 0.003, 0.01]))
            tally.sent += 1
            tally.left_early += 1
            return
        async with semaphore:
            status = await send_raw(port, raw, HANG_SECONDS)
        if status != 0:
            tally.record(status, repr(raw[:150]))
        else:
            tally.sent += 1  # closed without an answer: fine for bytes that are not HTTP

    await asyncio.gather(*(one(r) for r in requests))


def prepare(server: Authgate) -> tuple[Known, dict[str, Any]]:
    app = server.client(
        "fuzz-app",
        *("--redirect-uri", "http://127.0.0.1/cb", "--scope", "read"),
        *("--grant-type", "authorization_code", "--grant-type", "refresh_token"),
        *("--grant-type", "client_credentials", "--grant-type", "password"),
        "--introspect",
    )
    public = server.client("fuzz-public", "--public", "--redirect-uri", "http://127.0.0.1/cb")
    server.user("alice", "alice-password-1")
    issued = json.loads(
        server.cli("token", "create", "--client", app["client_id"], "--user", "alice", "--json")
    )
    basic = base64.b64encode(f"{app['client_id']}:{app['client_secret']}".encode()).decode()
    values = [
        app["client_id"], app["client_secret"], public["client_id"], "http://127.0.0.1/cb",
        "authorization_code", "refresh_token", "client_credentials", "password", "code",
        "read", "S256", "plain", "alice", "alice-password-1", "approve_once", "deny",
        issued["access_token"], issued["refresh_token"], "login", "none", "0", "",
    ]  # fmt: skip
    known = Known(values, [f"Basic {basic}"], [issued["access_token"]])
    return known, {"basic": basic, "access_token": issued["access_token"], **app}


def admin_token(server: Authgate) -> str | None:
    """A bearer token with `authgate:admin`, where this version knows the scope."""
    try:
        admin = server.client(
            "fuzz-admin", "--scope", "authgate:admin", "--grant-type", "client_credentials"
        )
        issued = server.cli("token", "create", "--client", admin["client_id"], "--json")
    except DrillError:
        return None
    token: str = json.loads(issued)["access_token"]
    return token


async def admin_api(
    server: Authgate, report: Report, count: int, tally: Tally, token: str | None
) -> None:
    """The administration API, once it exists: its own paths, with and without a token."""
    async with httpx.AsyncClient(timeout=HANG_SECONDS) as http:
        answer = await http.get(f"{server.url}/admin/api/v1/openapi.json")
    if answer.status_code != 200:
        report.note(f"admin API: openapi.json answered {answer.status_code}; not fuzzed (absent)")
        return
    document = answer.json()
    operations = [
        (method.upper(), path)
        for path, item in document.get("paths", {}).items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    ]
    rng = random.Random(11)
    values = ["x", "alice", "fuzz-app", "%2e%2e", "a" * 300, "0", "-1", "%00"]
    bodies = [
        b"{}", b"[]", b"null", b'{"name": 1}', b'{"name": "n", "redirect_uris": ["x"]}',
        b'{"password": ""}', b'{"grace": -1}', b'{"client_id": null}', b'{"path": "/.."}',
        b'{"name": "' + b"n" * 5000 + b'"}', b"\xff\xfe", b'{"a": {"b": [1e999]}}',
    ]  # fmt: skip
    requests = []
    for index in range(count):
        method, path = rng.choice(operations)
        path = re.sub(r"\{[^}]*\}", lambda _: rng.choice(values), path)
        body = rng.choice([*bodies, rng.randbytes(40)])
        headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),)
        if token and index % 4:
            headers += (("Authorization", f"Bearer {token}"),)
        base = "/admin/api/v1" if not path.startswith("/admin") else ""
        requests.append(Generated(method, base + path, (), headers, "raw", body))
    await send_generated(server.url, requests, tally)
    with_token = "three in four with an authgate:admin token" if token else "without a token"
    report.note(f"admin API: {count:,} requests over {len(operations)} operations, {with_token}")


def main() -> int:
    args = arguments(__doc__ or "", [("--requests", {"type": int, "default": 100_000})])
    total = 2_000 if args.quick else args.requests
    report = Report("fuzz")
    directory = make_workdir("fuzz")
    with upstream() as upstream_url:
        server = Authgate(directory, gateway_route(upstream_url))
        known, app = prepare(server)
        token = admin_token(server)
        with running(server):
            tally = Tally()
            generated = generate(known, total // 2, seed_value=20261203)
            log(f"fuzz: {len(generated)} requests generated by Hypothesis")
            asyncio.run(send_generated(server.url, generated, tally))
            hypothesis_sent = tally.sent
            raw = raw_requests(app, total - total // 2, random.Random(20261203))
            asyncio.run(send_mutated(server.port, raw, tally))
            asyncio.run(admin_api(server, report, total // 20, tally, token))
            alive = httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200
        traces = server.tracebacks()
    report.add("requests sent", tally.sent, "≥ 100,000" if not args.quick else "")
    report.add("of them from Hypothesis strategies", hypothesis_sent)
    report.add("of them raw mutations over sockets", tally.sent - hypothesis_sent)
    report.add("of them pipelined x3 and reset before the answers", tally.left_early)
    report.add("not sendable by httpx (skipped)", tally.unsendable)
    report.add("answers by status class", statuses(tally.statuses))
    report.add("5xx answers", tally.server_errors, "0", tally.server_errors == 0)
    report.add("tracebacks in the server log", len(traces), "0", not traces)
    report.add("hangs (no answer in 10 s)", tally.hangs, "0", tally.hangs == 0)
    report.add("server alive at the end", alive, "yes", alive)
    for example in tally.examples[:10]:
        report.note(example)
    for trace, n in Counter(traces).most_common(10):
        report.note(f"traceback x{n}: {trace}")
    return report.finish(args.out)


def statuses(counts: Counter[int]) -> str:
    classes: Counter[str] = Counter()
    for status, n in counts.items():
        classes[f"{status // 100}xx"] += n
    return ", ".join(f"{c} {n:,}" for c, n in sorted(classes.items()))


if __name__ == "__main__":
    raise SystemExit(main())
