"""The gateway's request reading and where it sends a call, without sockets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar

import pytest

from authgate.config import Settings
from authgate.errors import OAuthError
from authgate.gateway.headers import Incoming
from authgate.gateway.proxy import Gateway, RouteProxy
from authgate.gateway.upstream import Target
from authgate.monitoring import Transaction, clean_target
from authgate.monitoring.transactions import running
from authgate.operations import Caller, applications, parse
from authgate.services import Services
from authgate.tokens import mint, new_grant

DEVELOPER = Caller("portal", "alice")


def test_incoming_keeps_only_what_the_upstream_may_see():
    raw = [
        (b"host", b"gw.example"),
        (b"authorization", b"Bearer abc"),
        (b"connection", b"keep-alive, X-Hop"),
        (b"x-hop", b"1"),
        (b"keep-alive", b"timeout=5"),
        (b"x-authgate-subject", b"mallory"),
        (b"X-Authgate-Meta-A", b"b"),
        (b"x-forwarded-for", b"10.0.0.1"),
        (b"x-forwarded-host", b"evil"),
        (b"content-type", b"application/json"),
        (b"content-length", b"12"),
        (b"x-custom", b"kept"),
        (b"accept", b"*/*"),
    ]
    request = Incoming(raw, b"x-authgate-")
    assert request.headers == [
        (b"content-type", b"application/json"),
        (b"x-custom", b"kept"),
        (b"accept", b"*/*"),
    ]
    assert request.authorization == [b"Bearer abc"]
    assert (request.host, request.forwarded_for) == (b"gw.example", b"10.0.0.1")
    assert (request.has_body, request.content_length) == (True, 12)


def test_incoming_chunked_body_has_no_length():
    request = Incoming([(b"transfer-encoding", b"chunked")], b"x-authgate-")
    assert (request.has_body, request.content_length, request.headers) == (True, None, [])


# Where a call goes: no client is read on the way (the token says whether it is a sandbox key's).

ROUTES = [
    {"path": "/api/photos", "upstream": "http://photos.test", "sandbox_upstream": "http://sb.test"},
    {"path": "/api/videos", "upstream": "http://videos.test"},
    {
        "path": "/api/cams",
        "upstream": "http://user:pw@Cams.TEST:8080/base",
        "sandbox_upstream": "http://Sandbox.TEST/sb",
    },
]


class Answered:
    """An upstream answer with no body, enough for the gateway to build its relay."""

    status = 200
    headers: ClassVar[list[tuple[bytes, bytes]]] = []


class RecordingPool:
    """Stands in for the upstream pool: keeps where each call was sent."""

    def __init__(self) -> None:
        self.targets: list[Target] = []

    async def request(self, target: Target, *args: object, **kwargs: object) -> Answered:
        self.targets.append(target)
        return Answered()


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[Gateway]:
    settings = Settings.model_validate(
        {
            "storage": {"url": f"sqlite:///{tmp_path / 'registry.db'}", "tokens": "memory://"},
            "gateway": {"routes": ROUTES},
        }
    )
    services = await Services.open(settings)
    opened = Gateway(settings.gateway, services)
    await opened.pool.close()
    opened.pool = RecordingPool()  # type: ignore[assignment]
    try:
        yield opened
    finally:
        await services.close()


async def key_token(gateway: Gateway, environment: str) -> str:
    """A token of a portal key of `environment`, minted as the token endpoint mints it."""
    services = gateway.services
    request = applications.ApplicationCreate(name=f"{environment} app", description="")
    app_id = (await applications.create_application(services, DEVELOPER, request)).app_id
    key = parse(applications.KeyCreate, {"grant_types": ["client_credentials"]})
    created = await applications.create_key(services, DEVELOPER, app_id, environment, key)
    client = await services.registry.get_client(created.client_id)
    assert client is not None and client.environment == environment
    settings = services.settings.token_settings("client_credentials")
    base = new_grant(client.client_id, (), subject=client.client_id)
    grant = mint(base, settings, client=client, with_refresh=False)
    await services.tokens.put(grant.entries)
    return grant.access.value


async def call(gateway: Gateway, path: str, token: str, query: bytes = b"") -> int:
    proxy = RouteProxy(next(r for r in gateway.settings.routes if path.startswith(r.path)))
    scope = {
        "type": "http",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "headers": [(b"host", b"gw.test"), (b"authorization", f"Bearer {token}".encode())],
        "client": ("127.0.0.1", 50000),
        "app": SimpleNamespace(state=SimpleNamespace(gateway=gateway)),
    }

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    response = await proxy.handle(scope, receive)
    return response.status_code


@pytest.mark.anyio
async def test_a_token_goes_to_its_upstream_without_a_client_lookup(gateway, monkeypatch):
    sandbox = await key_token(gateway, "sandbox")
    production = await key_token(gateway, "production")
    lookups: list[str] = []

    async def no_lookup(client_id: str) -> None:
        lookups.append(client_id)

    monkeypatch.setattr(gateway.services.clients, "get", no_lookup)
    monkeypatch.setattr(gateway.services.registry, "get_client", no_lookup)
    pool = gateway.pool
    assert isinstance(pool, RecordingPool)

    assert await call(gateway, "/api/photos/1", sandbox) == 200
    assert await call(gateway, "/api/photos/1", production) == 200
    assert await call(gateway, "/api/videos/1", production) == 200
    assert [t.host_header for t in pool.targets] == [b"sb.test", b"photos.test", b"videos.test"]
    with pytest.raises(OAuthError) as refused:  # a route without a sandbox upstream
        await call(gateway, "/api/videos/1", sandbox)
    assert (refused.value.status, refused.value.code) == (403, "insufficient_scope")
    assert len(pool.targets) == 3
    assert lookups == []


@pytest.mark.anyio
async def test_the_traffic_log_shows_the_upstream_without_credentials_or_query(gateway):
    tokens = {env: await key_token(gateway, env) for env in ("production", "sandbox")}
    upstreams = {"production": ROUTES[2]["upstream"], "sandbox": ROUTES[2]["sandbox_upstream"]}
    for environment, token in tokens.items():
        transaction = Transaction("cams", "", "GET", "/api/cams/1", record_outbound=True)
        with running(transaction):
            assert await call(gateway, "/api/cams/1", token, b"secret=1") == 200
        (outbound,) = transaction.outbound
        whole = upstreams[environment] + "/api/cams/1?secret=1"
        assert outbound.target == clean_target(whole)
    assert outbound.target == "http://sandbox.test/sb/api/cams/1"
    assert clean_target(upstreams["production"] + "/x?y") == "http://cams.test:8080/base/x"
