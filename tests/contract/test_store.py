"""The TokenStore contract (authgate.stores.base), run against every backend."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from authgate.errors import StoreUnavailable
from authgate.models import TokenKind, TokenRecord
from authgate.stores import TokenStore, open_store
from authgate.tokens import digest, generate_token, new_grant_id
from tests.backends import Outage
from tests.contract.conftest import PURGE_BATCH, down_url, raw_contents

pytestmark = pytest.mark.anyio


def record(
    kind: TokenKind = "refresh_token",
    *,
    client_id: str | None = None,
    grant_id: str | None = None,
    ttl: int = 600,
    username: str | None = "alice",
) -> TokenRecord:
    now = int(time.time())
    return TokenRecord(
        kind=kind,
        client_id=client_id or f"client-{new_grant_id()[-8:]}",
        grant_id=grant_id or new_grant_id(),
        scopes=("photos.read", "photos.write"),
        issued_at=now,
        expires_at=now + ttl,
        subject=username or client_id,
        username=username,
        metadata={"Department": "Engineering"},
        redirect_uri="https://app.example/cb" if kind == "authorization_code" else None,
    )


def entry(rec: TokenRecord) -> tuple[str, str, TokenRecord]:
    """(token, key, record): a fresh token and the digest a store keeps for it."""
    token = generate_token(46)
    return token, digest(token), rec


async def test_put_then_get_round_trips(store: TokenStore):
    _, key, rec = entry(record())
    await store.put([(key, rec)])
    assert await store.get(key) == rec
    assert await store.get(digest("never issued")) is None


async def test_a_code_keeps_its_openid_connect_fields(store: TokenStore):
    rec = replace(record("authorization_code"), auth_time=int(time.time()) - 5, nonce="n-0S")
    _, key, rec = entry(rec)
    await store.put([(key, rec)])
    assert await store.get(key) == rec


async def test_put_stores_several_entries(store: TokenStore):
    grant = new_grant_id()
    entries = [entry(record(kind, grant_id=grant)) for kind in ("access_token", "refresh_token")]
    await store.put([(key, rec) for _, key, rec in entries])
    for _, key, rec in entries:
        assert await store.get(key) == rec


async def test_put_then_get_keeps_the_certificate_binding(store: TokenStore):
    """RFC 8705 section 3: a bound token's `cnf` comes back as it was stored."""
    _, key, rec = entry(
        replace(
            record("access_token"), cnf={"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}
        )
    )
    await store.put([(key, rec)])
    found = await store.get(key)
    assert found is not None
    assert found.cnf == {"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}
    assert found.certificate_thumbprint == "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"


async def test_a_sandbox_keys_token_keeps_its_mark_and_a_rotation_passes_it_on(
    store: TokenStore,
):
    """The gateway routes by the record alone: the mark must come back from every backend."""
    _, key, rec = entry(replace(record(), is_sandbox=True))
    _, access_key, access = entry(replace(rec, kind="access_token"))
    await store.put([(key, rec)])
    assert await store.exchange(key, [(access_key, access)], successor="sealed")
    found, issued = await store.get(key), await store.get(access_key)
    assert found is not None and found.is_sandbox and found.consumed
    assert issued == access and issued.is_sandbox


async def test_record_expired_at_put_is_never_seen(store: TokenStore):
    _, key, rec = entry(record(ttl=-5))
    await store.put([(key, rec)])
    assert await store.get(key) is None


async def test_record_disappears_when_it_expires(store: TokenStore):
    _, key, rec = entry(record(ttl=1))
    await store.put([(key, rec)])
    assert await store.get(key) == rec
    await asyncio.sleep(max(0.0, rec.expires_at - time.time()) + 0.1)
    assert await store.get(key) is None
    assert await store.exchange(key, []) is False


async def test_exchange_has_exactly_one_winner_among_50_callers(store: TokenStore):
    _, key, code = entry(record("authorization_code"))
    await store.put([(key, code)])
    candidates = [entry(replace(code, kind="access_token")) for _ in range(50)]

    results = await asyncio.gather(*(store.exchange(key, [(k, r)]) for _, k, r in candidates))

    assert results.count(True) == 1
    winner = results.index(True)
    for i, (_, k, r) in enumerate(candidates):
        assert await store.get(k) == (r if i == winner else None)


async def test_consumed_record_stays_visible_and_cannot_be_exchanged_again(store: TokenStore):
    _, key, code = entry(record("authorization_code"))
    _, access_key, access = entry(replace(code, kind="access_token"))
    await store.put([(key, code)])

    assert await store.exchange(key, [(access_key, access)]) is True

    seen = await store.get(key)
    assert seen == replace(code, consumed=True)
    assert await store.get(access_key) == access
    _, other_key, other = entry(replace(code, kind="access_token"))
    assert await store.exchange(key, [(other_key, other)]) is False
    assert await store.get(other_key) is None


async def test_exchange_keeps_the_successor_on_the_consumed_record(store: TokenStore):
    _, key, refresh = entry(record())
    _, next_key, next_refresh = entry(refresh)
    await store.put([(key, refresh)])

    assert await store.exchange(key, [(next_key, next_refresh)], successor="sealed-blob") is True

    seen = await store.get(key)
    assert seen is not None
    assert seen.consumed is True
    assert seen.successor == "sealed-blob"
    assert await store.get(next_key) == next_refresh


async def test_exchange_of_a_missing_or_expired_record_stores_nothing(store: TokenStore):
    _, expired_key, expired = entry(record(ttl=-1))
    await store.put([(expired_key, expired)])
    for key, grant in ((digest("no such code"), new_grant_id()), (expired_key, expired.grant_id)):
        _, new_key, new = entry(record("access_token", grant_id=grant))
        assert await store.exchange(key, [(new_key, new)]) is False
        assert await store.get(new_key) is None


async def test_revoke_grant_removes_the_whole_family(store: TokenStore):
    client = f"client-{new_grant_id()}"
    grant, other_grant = new_grant_id(), new_grant_id()
    _, code_key, code = entry(record("authorization_code", client_id=client, grant_id=grant))
    family = [
        entry(record(k, client_id=client, grant_id=grant))
        for k in ("access_token", "refresh_token")
    ]
    _, other_key, other = entry(record(client_id=client, grant_id=other_grant))
    await store.put([(code_key, code)])
    assert await store.exchange(code_key, [(k, r) for _, k, r in family]) is True
    await store.put([(other_key, other)])

    assert await store.revoke_grant(grant) == 3

    for key in [code_key, *(k for _, k, _ in family)]:
        assert await store.get(key) is None
    assert await store.get(other_key) == other
    assert await store.revoke_grant(grant) == 0


async def test_revoke_client_removes_every_record_of_that_client_only(store: TokenStore):
    client, other_client = f"client-{new_grant_id()}", f"client-{new_grant_id()}"
    mine = [entry(record(client_id=client)) for _ in range(3)]
    theirs = entry(record(client_id=other_client))
    await store.put([(k, r) for _, k, r in mine])
    await store.put([theirs[1:]])

    assert await store.revoke_client(client) == 3

    for _, key, _ in mine:
        assert await store.get(key) is None
    assert await store.get(theirs[1]) == theirs[2]
    assert await store.revoke_client(client) == 0


async def test_revoke_user_removes_every_record_of_that_user_only(store: TokenStore):
    user, other_user = f"user-{new_grant_id()}", f"user-{new_grant_id()}"
    grants = [new_grant_id() for _ in range(2)]
    mine = [
        entry(record(kind, client_id=f"client-{grant}", grant_id=grant, username=user))
        for grant in grants
        for kind in ("access_token", "refresh_token")
    ]
    theirs = entry(record(client_id=f"client-{grants[0]}", username=other_user))
    client_token = entry(record(client_id=f"client-{grants[0]}", username=None))
    await store.put([(k, r) for _, k, r in mine])
    await store.put([theirs[1:], client_token[1:]])

    assert await store.revoke_user(user) == 4

    for _, key, _ in mine:
        assert await store.get(key) is None
    assert await store.get(theirs[1]) == theirs[2]
    assert await store.get(client_token[1]) == client_token[2]
    assert await store.revoke_user(user) == 0


async def test_revoke_user_of_one_client_keeps_the_users_other_clients(store: TokenStore):
    user = f"user-{new_grant_id()}"
    first, second = f"client-{new_grant_id()}", f"client-{new_grant_id()}"
    grant = new_grant_id()
    of_first = [
        entry(record(k, client_id=first, grant_id=grant, username=user))
        for k in ("access_token", "refresh_token")
    ]
    of_second = entry(record(client_id=second, username=user))
    await store.put([(k, r) for _, k, r in of_first] + [of_second[1:]])

    assert await store.revoke_user(user, client_id=first) == 2

    for _, key, _ in of_first:
        assert await store.get(key) is None
    assert await store.get(of_second[1]) == of_second[2]
    assert await store.revoke_user(user, client_id=first) == 0
    assert await store.revoke_user(user) == 1


async def test_revoke_grant_then_revoke_user_counts_nothing_twice(store: TokenStore):
    user = f"user-{new_grant_id()}"
    _, key, rec = entry(record(username=user))
    await store.put([(key, rec)])
    assert await store.revoke_grant(rec.grant_id) == 1
    assert await store.revoke_user(user) == 0


async def test_purge_removes_only_expired_records(store: TokenStore, backend: str):
    expired = [entry(record(ttl=-10)) for _ in range(PURGE_BATCH * 2 + 1)]
    _, live_key, live = entry(record())
    await store.put([(k, r) for _, k, r in expired] + [(live_key, live)])

    removed = await store.purge(int(time.time()))

    # Redis expires keys itself: purge finds nothing left to do.
    assert removed == (0 if backend.startswith("redis") else len(expired))
    assert await store.get(live_key) == live
    for _, key, _ in expired:
        assert await store.get(key) is None


async def test_delete_removes_one_record(store: TokenStore):
    grant = new_grant_id()
    _, key, rec = entry(record(grant_id=grant))
    _, sibling_key, sibling = entry(record("access_token", grant_id=grant))
    await store.put([(key, rec), (sibling_key, sibling)])

    await store.delete(key)
    await store.delete(key)  # absent: no error

    assert await store.get(key) is None
    assert await store.get(sibling_key) == sibling


async def test_no_plaintext_token_reaches_the_backend(store: TokenStore):
    code_token, code_key, code = entry(record("authorization_code"))
    access_token, access_key, access = entry(replace(code, kind="access_token"))
    refresh_token, refresh_key, refresh = entry(replace(code, kind="refresh_token"))
    await store.put([(code_key, code)])
    await store.exchange(code_key, [(access_key, access), (refresh_key, refresh)])

    contents = await raw_contents(store)

    assert access_key in contents  # the scan does see this store's data
    for token in (code_token, access_token, refresh_token):
        assert token not in contents


async def test_ping_answers_none_to_many_callers_at_once(store: TokenStore):
    # /readyz pings on every probe, beside the traffic: more pings at once than any pool has
    # connections, the first of them on a fresh store (pools open on first use), all answer.
    # (An unreachable backend is test_unreachable_backend_raises_store_unavailable's case.)
    assert await asyncio.gather(*(store.ping() for _ in range(50))) == [None] * 50
    _, key, rec = entry(record())
    await store.put([(key, rec)])
    await store.ping()  # raises unless the store answers
    assert await store.get(key) == rec


async def test_unreachable_backend_raises_store_unavailable(
    store: TokenStore, backend: str, tmp_path: Path
):
    if backend == "memory":
        pytest.skip("memory:// lives in the process and cannot be unreachable")
    down = open_store(down_url(backend, tmp_path))
    _, key, rec = entry(record())
    try:
        calls = [
            lambda: down.get(key),
            lambda: down.put([(key, rec)]),
            lambda: down.exchange(key, [(key, rec)]),
            lambda: down.delete(key),
            lambda: down.revoke_grant(rec.grant_id),
            lambda: down.revoke_client(rec.client_id),
            lambda: down.revoke_user("alice"),
            down.ping,
        ]
        for call in calls:
            with pytest.raises(StoreUnavailable):
                await call()
    finally:
        await down.close()
    assert await store.get(key) is None  # the live store is untouched


async def test_outage_raises_store_unavailable_writes_nothing_and_recovers(
    store: TokenStore, store_url: str, backend: str
):
    if backend not in ("postgresql", "mariadb", "redis"):
        pytest.skip("needs a networked single-server backend to relay")
    url = make_url(store_url)
    relay = Outage(url.host or "127.0.0.1", url.port or {"redis": 6379}.get(backend, 0))
    await relay.start()
    relayed = open_store(url.set(port=relay.port).render_as_string(hide_password=False))
    _, key, code = entry(record("authorization_code"))
    _, access_key, access = entry(replace(code, kind="access_token"))
    _, other_key, other = entry(record())
    try:
        await relayed.put([(key, code)])
        assert await relayed.get(key) == code

        await relay.cut()
        for call in (
            lambda: relayed.get(key),
            lambda: relayed.exchange(key, [(access_key, access)]),
            lambda: relayed.put([(other_key, other)]),
            relayed.ping,
        ):
            with pytest.raises(StoreUnavailable):
                await call()

        # Nothing half-written: the code is still unused, and no new record exists.
        assert await store.get(key) == code
        assert await store.get(access_key) is None
        assert await store.get(other_key) is None

        await relay.start()
        assert await relayed.get(key) == code
        assert await relayed.exchange(key, [(access_key, access)]) is True
    finally:
        await relayed.close()
        await relay.cut()


async def test_connections_ended_by_the_server_mid_operation_raise_store_unavailable(
    store: TokenStore, store_url: str, backend: str
):
    # What a PostgreSQL shutdown (`pg_ctl stop -m fast`, systemd's stop) does to each open
    # connection, done here to this test's own database only: its sessions end with FATAL
    # 57P01 while calls are under way. Each call must succeed or raise StoreUnavailable; asyncpg
    # used to let InternalClientError ("cannot switch to state ...") escape, a 500.
    if backend != "postgresql":
        pytest.skip("ends the sessions of one PostgreSQL database (pg_terminate_backend)")
    import asyncpg

    url = make_url(store_url)
    database = url.database
    admin = await asyncpg.connect(url.set(database="test").render_as_string(hide_password=False))
    escaped: list[str] = []
    stop = asyncio.Event()

    async def caller(worker: int) -> None:
        round_ = 0
        while not stop.is_set():
            round_ += 1
            _, key, rec = entry(record())
            try:
                await store.put([(key, rec)])
                await store.exchange(key, [])
                await store.get(key)
            except StoreUnavailable:
                await asyncio.sleep(0.005)
            except Exception as exc:
                escaped.append(f"{type(exc).__name__}: {exc}")

    callers = [asyncio.create_task(caller(i)) for i in range(10)]
    try:
        for _ in range(30):
            await asyncio.sleep(0.05)
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid()",
                database,
            )
    finally:
        stop.set()
        await asyncio.gather(*callers)
        await admin.close()
    assert escaped == []
    _, key, rec = entry(record())
    await store.put([(key, rec)])  # and the store serves again
    assert await store.get(key) == rec


async def test_an_outage_logs_no_traceback_from_the_postgresql_pool(
    store_url: str, backend: str, caplog: pytest.LogCaptureFixture
):
    # Each request of an outage answers 503 and logs one line. asyncpg's pool also reconnected
    # on its own to keep a floor of open connections, and logged a full traceback at each try.
    if backend != "postgresql":
        pytest.skip("the asyncpg pool of the PostgreSQL store")
    url = make_url(store_url)
    relay = Outage(url.host or "127.0.0.1", url.port or 5432)
    await relay.start()
    relayed = open_store(url.set(port=relay.port).render_as_string(hide_password=False))
    try:
        await relayed.ping()
        await relay.cut()
        with caplog.at_level("WARNING"):
            with pytest.raises(StoreUnavailable):
                await relayed.ping()
            await asyncio.sleep(0.5)  # room for the pool's own reconnection to run
        assert [r.getMessage() for r in caplog.records if r.exc_info] == []
        await relay.start()
        await relayed.ping()  # a request opens what it needs
    finally:
        await relayed.close()
        await relay.cut()
