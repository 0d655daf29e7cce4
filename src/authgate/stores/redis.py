"""`redis://HOST:PORT/DB` and `redis+cluster://HOST:PORT[,HOST:PORT...]`.

Layout (every key of one Lua script shares a hash slot, so the same code runs on a cluster):

- `ag:{<grant_id>}`: hash, digest -> record JSON. The truth: a record exists iff it is here
  and not expired. Expires with the latest record of the family; the write scripts drop
  expired records from it, so a long-rotating family does not grow.
- `ag:t:<digest>`: string -> grant_id, expiring with its record. An index, read first by
  `get`; a pointer into a family that lacks the digest means "not found".
- `ag:c:<client_id>`: set of grant ids, expiring with the client's latest record, for
  `revoke_client`. A set rather than SCAN: SCAN walks every key of every node on each call,
  the set costs one SADD per write and makes revocation O(grants of the client).
- `ag:u:<username>`: set of `<grant_id>:<client_id>`, expiring with the user's latest record,
  for `revoke_user`; the client id in the member lets one (client, user) pair be revoked
  without reading the families of the user's other clients.

Writes put the index keys first and the family last, in one script; a failure midway leaves
only index entries that point at nothing, so nothing is half-written. `put` is atomic per
grant family (entries of several grants in one call are written family by family), and the
entries of `exchange` must belong to the grant of the consumed record. Redis expires keys
itself, so `purge` has nothing to do.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, cast
from urllib.parse import parse_qs, unquote

from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import NoScriptError, RedisClusterException, RedisError

from authgate.errors import StoreUnavailable
from authgate.models import TokenRecord
from authgate.stores.base import Entry

DEFAULT_TIMEOUT = 5.0  # seconds, for connecting and for each reply

# KEYS[1] family; ARGV: now, then (digest, record JSON, expires_at ms) triples.
_PRUNE = """
local function prune(family, now)
  local all = redis.call('HGETALL', family)
  for i = 1, #all, 2 do
    local ok, rec = pcall(cjson.decode, all[i + 1])
    if ok and tonumber(rec['expires_at']) <= now then
      redis.call('HDEL', family, all[i])
    end
  end
end
local function insert(family, first)
  local latest = 0
  for i = first, #ARGV, 3 do
    redis.call('HSET', family, ARGV[i], ARGV[i + 1])
    latest = math.max(latest, tonumber(ARGV[i + 2]))
  end
  if latest > 0 then
    redis.call('PEXPIREAT', family, latest, 'NX')
    redis.call('PEXPIREAT', family, latest, 'GT')
  end
end
"""

_PUT = (
    _PRUNE
    + """
prune(KEYS[1], tonumber(ARGV[1]))
insert(KEYS[1], 2)
return 1
"""
)

# ARGV: now, digest, successor ('' for none), then triples as for _PUT.
_EXCHANGE = (
    _PRUNE
    + """
local now = tonumber(ARGV[1])
local raw = redis.call('HGET', KEYS[1], ARGV[2])
if not raw then return 0 end
local rec = cjson.decode(raw)
if rec['consumed'] or tonumber(rec['expires_at']) <= now then return 0 end
rec['consumed'] = true
if ARGV[3] ~= '' then rec['successor'] = ARGV[3] end
redis.call('HSET', KEYS[1], ARGV[2], cjson.encode(rec))
prune(KEYS[1], now)
insert(KEYS[1], 4)
return 1
"""
)

# Removes the family; returns its digests and one record (whose client_id names the set).
_REVOKE = """
local keys = redis.call('HKEYS', KEYS[1])
local sample = false
if #keys > 0 then sample = redis.call('HGET', KEYS[1], keys[1]) end
redis.call('DEL', KEYS[1])
return {sample, keys}
"""

_UNAVAILABLE = (RedisError, RedisClusterException, OSError, asyncio.TimeoutError)


def _family(grant_id: str) -> str:
    return f"ag:{{{grant_id}}}"


def _pointer(key: str) -> str:
    return f"ag:t:{key}"


def _client_set(client_id: str) -> str:
    return f"ag:c:{client_id}"


def _user_set(username: str) -> str:
    return f"ag:u:{username}"


class _Script:
    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    async def __call__(self, client: Redis | RedisCluster, key: str, *args: object) -> Any:
        try:
            return await client.evalsha(self.sha, 1, key, *args)  # type: ignore[arg-type]  # redis-py types ARGV narrowly
        except NoScriptError:
            return await client.eval(self.source, 1, key, *args)  # type: ignore[arg-type]  # as above


class RedisStore:
    def __init__(self, client: Redis | RedisCluster) -> None:
        self.client = client
        self._put = _Script(_PUT)
        self._exchange = _Script(_EXCHANGE)
        self._revoke = _Script(_REVOKE)

    @classmethod
    def from_url(cls, url: str) -> RedisStore:
        """`redis://` (options such as `?socket_timeout=2` are honoured) or `redis+cluster://`."""
        retry = Retry(ExponentialBackoff(cap=0.5, base=0.05), 2)
        options: dict[str, Any] = {
            "decode_responses": True,
            "socket_timeout": DEFAULT_TIMEOUT,
            "socket_connect_timeout": DEFAULT_TIMEOUT,
            "retry": retry,
        }
        if url.startswith("redis+cluster://"):
            return cls(_cluster_from_url(url, options))
        return cls(Redis.from_url(url, **options))

    @asynccontextmanager
    async def _guard(self) -> AsyncIterator[None]:
        try:
            yield
        except _UNAVAILABLE as exc:
            raise StoreUnavailable("token store", exc) from exc

    async def _index(self, grant_id: str, entries: Sequence[Entry]) -> None:
        """Pointers and client sets for `entries`, written before their family."""
        pipe = self.client.pipeline(transaction=False)
        for key, record in entries:
            pipe.set(_pointer(key), grant_id, pxat=record.expires_at * 1000)
        for client_id in {record.client_id for _, record in entries}:
            latest = max(r.expires_at for _, r in entries if r.client_id == client_id) * 1000
            pipe.sadd(_client_set(client_id), grant_id)
            pipe.pexpireat(_client_set(client_id), latest, nx=True)
            pipe.pexpireat(_client_set(client_id), latest, gt=True)
        for username, client_id in {(r.username, r.client_id) for _, r in entries if r.username}:
            latest = max(r.expires_at for _, r in entries if r.username == username) * 1000
            pipe.sadd(_user_set(username), f"{grant_id}:{client_id}")
            pipe.pexpireat(_user_set(username), latest, nx=True)
            pipe.pexpireat(_user_set(username), latest, gt=True)
        await pipe.execute()

    @staticmethod
    def _triples(entries: Sequence[Entry]) -> list[object]:
        args: list[object] = []
        for key, record in entries:
            args += [key, record.to_json(), record.expires_at * 1000]
        return args

    async def put(self, entries: Sequence[Entry]) -> None:
        now = time.time()
        families: dict[str, list[Entry]] = {}
        for key, record in entries:
            if not record.is_expired(now):  # an expired record would be invisible anyway
                families.setdefault(record.grant_id, []).append((key, record))
        async with self._guard():
            for grant_id, family in families.items():
                await self._index(grant_id, family)
                await self._put(self.client, _family(grant_id), now, *self._triples(family))

    async def _grant_of(self, key: str) -> str | None:
        return cast(str | None, await self.client.get(_pointer(key)))

    async def get(self, key: str) -> TokenRecord | None:
        async with self._guard():
            grant_id = await self._grant_of(key)
            if grant_id is None:
                return None
            raw = await self.client.hget(_family(grant_id), key)
        if raw is None:
            return None
        record = TokenRecord.from_json(raw)
        return None if record.is_expired(time.time()) else record

    async def exchange(
        self, key: str, entries: Sequence[Entry], *, successor: str | None = None
    ) -> bool:
        now = time.time()
        async with self._guard():
            # The successors belong to the consumed record's grant (the flows mint them from
            # it), so their grant names the family without a lookup of the key's pointer: a
            # key that is not in that family is not found by the script, as a missing one.
            grant_id = entries[0][1].grant_id if entries else await self._grant_of(key)
            if grant_id is None:
                return False
            if any(record.grant_id != grant_id for _, record in entries):
                raise ValueError("exchange entries must belong to one grant")
            live = [(k, r) for k, r in entries if not r.is_expired(now)]
            if live:
                await self._index(grant_id, live)
            won = await self._exchange(
                self.client, _family(grant_id), now, key, successor or "", *self._triples(live)
            )
            if not won and live:
                await self.client.delete(*[_pointer(k) for k, _ in live])
            return bool(won)

    async def delete(self, key: str) -> None:
        async with self._guard():
            grant_id = await self._grant_of(key)
            if grant_id is not None:
                await self.client.hdel(_family(grant_id), key)
            await self.client.delete(_pointer(key))

    async def revoke_grant(self, grant_id: str) -> int:
        async with self._guard():
            sample, keys = await self._revoke(self.client, _family(grant_id))
            if keys:
                await self.client.delete(*[_pointer(k) for k in keys])
            if sample:
                record = json.loads(sample)
                await self.client.srem(_client_set(record["client_id"]), grant_id)
                if record.get("username"):
                    await self.client.srem(
                        _user_set(record["username"]), f"{grant_id}:{record['client_id']}"
                    )
        return len(keys)

    async def revoke_client(self, client_id: str) -> int:
        async with self._guard():
            grant_ids = await self.client.smembers(_client_set(client_id))
        removed = 0
        for grant_id in grant_ids:
            removed += await self.revoke_grant(str(grant_id))
        return removed

    async def revoke_user(self, username: str, client_id: str | None = None) -> int:
        async with self._guard():
            members = await self.client.smembers(_user_set(username))
        removed = 0
        for member in members:
            grant_id, _, grant_client = str(member).partition(":")
            if client_id is None or grant_client == client_id:
                removed += await self.revoke_grant(grant_id)
        return removed

    async def purge(self, now: int) -> int:
        return 0  # keys expire by themselves; the write scripts prune expired family members

    async def ping(self) -> None:
        async with self._guard():
            if isinstance(self.client, RedisCluster):
                await self.client.ping(target_nodes=RedisCluster.PRIMARIES)
            else:
                await self.client.ping()

    async def close(self) -> None:
        await self.client.aclose()


def _cluster_from_url(url: str, options: dict[str, Any]) -> RedisCluster:
    """`redis+cluster://[[USER]:PASSWORD@]HOST:PORT[,HOST:PORT...][?socket_timeout=S]`."""
    rest = url.removeprefix("redis+cluster://")
    rest, _, query = rest.partition("?")
    rest = rest.split("/", 1)[0]
    credentials, _, hosts = rest.rpartition("@")
    if credentials:
        user, _, password = credentials.partition(":")
        options["username"] = unquote(user) or None
        options["password"] = unquote(password) or None
    for name, values in parse_qs(query).items():
        if name in ("socket_timeout", "socket_connect_timeout"):
            options[name] = float(values[-1])
    nodes = []
    for node in hosts.split(","):
        host, _, port = node.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"redis+cluster URL needs HOST:PORT[,HOST:PORT...], got {url!r}")
        nodes.append(ClusterNode(host.strip("[]"), int(port)))
    return RedisCluster(startup_nodes=nodes, **options)
