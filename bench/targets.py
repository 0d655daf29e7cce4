"""The authgate servers under test: stores, configuration, a registered client, minting."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from harness import (
    BENCH,
    BIN,
    CLI_POOL_LIMIT,
    REDIRECT_URI,
    SCOPE,
    SERVER_CPU,
    Bench,
    Process,
    Skip,
    brief,
    call,
    clean_env,
    free_port,
    wait_ready,
)

# authgate


@dataclass
class Store:
    name: str
    url: str  # "" for the embedded SQLite default (tokens in the registry database)
    cleanup: Any = None


def authgate_cli(config: Path, *args: str, timeout: float = 300) -> str:
    done = subprocess.run(
        [str(BIN / "authgate"), "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=clean_env(),
        cwd=config.parent,
    )
    if done.returncode != 0:
        raise Skip(
            f"authgate {args[0]} {args[1] if len(args) > 1 else ''} failed: "
            f"{done.stderr.strip()[-300:]}"
        )
    return done.stdout


def write_config(directory: Path, store: Store, extra: str = "") -> Path:
    lines = ["[storage]", f'url = "sqlite:///{directory}/authgate.db"']
    if store.url:
        lines.append(f'tokens = "{store.url}"')
    if store.url.startswith("memory:"):
        # Codes must be reachable by bench/mint.py, outside the server process.
        lines.append(f'codes = "sqlite:///{directory}/codes.db"')
    path = directory / "authgate.toml"
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


async def probe_store(url: str) -> None:
    from authgate.stores import open_store

    store = open_store(url, engines={})
    try:
        await store.ping()
    finally:
        await store.close()


def prepare_postgres(url: str) -> Any:
    """A fresh database `authgate_bench` beside the one the URL names; dropped afterwards."""
    import asyncpg

    admin = url.rsplit("/", 1)[0] + "/postgres"

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(admin.replace("postgresql+asyncpg", "postgresql"), timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run("DROP DATABASE IF EXISTS authgate_bench WITH (FORCE)"))
    asyncio.run(run("CREATE DATABASE authgate_bench"))
    return lambda: asyncio.run(run("DROP DATABASE IF EXISTS authgate_bench WITH (FORCE)"))


def flush_redis(url: str) -> Any:
    import redis

    def flush() -> None:
        client = redis.Redis.from_url(url, socket_timeout=5)
        try:
            client.flushdb()
        finally:
            client.close()

    flush()
    return flush


def stores(selected: list[str]) -> list[Store | tuple[str, str]]:
    """The stores to measure, or (name, reason) for one that cannot open here."""
    pg_url = os.environ.get("BENCH_POSTGRES_URL", "")
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
    found: list[Store | tuple[str, str]] = []
    for name in selected:
        try:
            if name == "memory":
                found.append(Store(name, "memory://"))
            elif name == "sqlite":
                found.append(Store(name, ""))
            elif name == "postgresql":
                cleanup = None
                url = pg_url
                if not url:
                    cleanup = prepare_postgres("postgresql://postgres@127.0.0.1:5432/postgres")
                    url = "postgresql://postgres@127.0.0.1:5432/authgate_bench"
                asyncio.run(probe_store(url))
                found.append(Store(name, url, cleanup))
            elif name == "redis":
                asyncio.run(probe_store(redis_url))
                found.append(Store(name, redis_url, flush_redis(redis_url)))
            else:
                found.append((name, "unknown store name"))
        except Exception as exc:
            found.append((name, f"{type(exc).__name__}: {exc}"[:300]))
    return found


class Authgate:
    """One `authgate serve` on core 0 with a fresh registry, a client, and its config."""

    def __init__(
        self,
        bench: Bench,
        store: Store,
        tag: str,
        extra_config: str = "",
        *,
        tls: bool = False,
        workers: int | None = None,
    ) -> None:
        """`workers`: `serve --workers N`, not pinned to core 0 (bench/workers.py)."""
        self.bench = bench
        self.store = store
        self.tls = tls
        self.directory = bench.work / tag
        self.directory.mkdir()
        if tls:
            extra_config = server_certificate(self.directory) + extra_config
        self.config = write_config(self.directory, store, extra_config)
        if store.url and not store.url.startswith("memory:"):
            authgate_cli(self.config, "migrate")
        created = json.loads(
            authgate_cli(
                self.config,
                "client",
                "create",
                "--name",
                "bench",
                "--scope",
                SCOPE,
                "--grant-type",
                "client_credentials",
                "--grant-type",
                "refresh_token",
                "--grant-type",
                "authorization_code",
                "--redirect-uri",
                REDIRECT_URI,
                "--introspect",
                "--json",
            )
        )
        self.client_id = created["client_id"]
        secret = created["client_secret"]
        self.basic = base64.b64encode(
            f"{quote(self.client_id, safe='')}:{quote(secret, safe='')}".encode()
        ).decode()
        self.port = free_port()
        argv = [str(BIN / "authgate"), "--config", str(self.config), "serve"]
        argv += ["--port", str(self.port)]
        if workers is None:
            argv = ["taskset", "-c", SERVER_CPU, *argv]
        else:
            argv += ["--workers", str(workers)]
        self.process = Process(
            f"authgate-{tag}",
            argv,
            cwd=self.directory,
            env=clean_env(),
            logfile=self.directory / "server.log",
        )

    def ready(self) -> None:
        wait_ready(self.process, self.port, "/healthz", tls=self.tls)

    def post(self, path: str, form: dict[str, str]) -> tuple[int, Any]:
        return call(self.port, "POST", path, basic=self.basic, form=form, tls=self.tls)

    def access_token(self) -> str:
        status, body = self.post(
            "/oauth2/token", {"grant_type": "client_credentials", "scope": SCOPE}
        )
        if status != 200:
            raise Skip(f"client_credentials answered {status}: {brief(body)}")
        return str(body["access_token"])

    def env(self, **extra: str) -> dict[str, str]:
        return {"BENCH_BASIC": self.basic, "BENCH_SCOPE": SCOPE, **extra}

    def mint(self, what: str, count: int) -> list[str]:
        """Codes or refresh tokens in the configured stores (not reachable for memory://)."""
        out = self.directory / f"{what}-minted.txt"
        if what == "refresh" and count <= CLI_POOL_LIMIT:
            lines = authgate_cli(
                self.config,
                "token",
                "create",
                "--client",
                self.client_id,
                "--user",
                "bench",
                "--scope",
                SCOPE,
                "--count",
                str(count),
                "--json",
            ).splitlines()
            return [json.loads(line)["refresh_token"] for line in lines]
        done = subprocess.run(
            [
                sys.executable,
                str(BENCH / "mint.py"),
                what,
                "--config",
                str(self.config),
                "--client",
                self.client_id,
                "--scope",
                SCOPE,
                "--count",
                str(count),
                "--out",
                str(out),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            env=clean_env(),
        )
        if done.returncode != 0:
            raise Skip(f"mint.py {what} failed: {done.stderr.strip()[-300:]}")
        return out.read_text().split()


def server_certificate(directory: Path) -> str:
    """A self-signed certificate for 127.0.0.1 (P-256, as a modern deployment would use), and
    the `[server]` lines that make `serve` speak HTTPS with it."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name.from_rfc4514_string("CN=127.0.0.1")
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    (directory / "server.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "server.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return (
        f'[server]\ntls_certificate = "{directory}/server.crt"\n'
        f'tls_private_key = "{directory}/server.key"\n'
    )


def grant_probe(server: Authgate, what: str) -> Callable[[str], None]:
    """One exchange before the runs: a grant that fails skips the case, with the answer."""

    def probe(value: str) -> None:
        if what == "codes":
            form = {"grant_type": "authorization_code", "code": value, "redirect_uri": REDIRECT_URI}
        else:
            form = {"grant_type": "refresh_token", "refresh_token": value}
        status, body = server.post("/oauth2/token", form)
        if status != 200:
            raise Skip(f"{form['grant_type']} answered {status}: {brief(body)}")

    return probe
