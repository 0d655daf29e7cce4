"""The relational schema, shared by SQLite, PostgreSQL and MariaDB; Alembic migrates it."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

# Client Application Registry. Lists are JSON text so every backend stores them alike.
clients = Table(
    "clients",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("secret_hash", String(64), nullable=True),
    Column("redirect_uris", Text, nullable=False),
    Column("scopes", Text, nullable=False),
    Column("grant_types", Text, nullable=False),
    Column("is_public", Boolean, nullable=False),
    Column("can_introspect", Boolean, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    # RFC 8705 client authentication: "secret", "tls_client_auth" (subject DN) or
    # "self_signed_tls_client_auth" (the PEM certificate itself).
    Column("auth_method", String(32), nullable=False, server_default="secret"),
    Column("tls_subject_dn", Text, nullable=True),
    Column("tls_certificate", Text, nullable=True),
)

# Local User Store and the manager's administrators: argon2id hashes only.
users = Table(
    "users",
    metadata,
    Column("username", String(255), primary_key=True),
    Column("password_hash", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

admins = Table(
    "admins",
    metadata,
    Column("username", String(255), primary_key=True),
    Column("password_hash", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

# Approve Always: the scopes a user granted a client for good.
consents = Table(
    "consents",
    metadata,
    Column("username", String(255), primary_key=True),
    Column("client_id", String(64), primary_key=True),
    Column("scopes", Text, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

# Browser sessions of every page, keyed by the digest of the cookie value. `realm` says whose:
# "user" (the login and consent pages) or "admin" (the web manager).
sessions = Table(
    "sessions",
    metadata,
    Column("session_key", String(64), primary_key=True),
    Column("realm", String(16), nullable=False),
    Column("username", String(255), nullable=True),
    Column("csrf_token", String(64), nullable=False),
    Column("data", Text, nullable=False),
    Column("expires_at", BigInteger, nullable=False, index=True),
)

# Brute-force protection: failures in a row per username, known or not.
lockouts = Table(
    "lockouts",
    metadata,
    Column("username", String(255), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("lock_count", Integer, nullable=False),
    Column("locked_until", BigInteger, nullable=False),
    Column("last_failure", BigInteger, nullable=False),
)

# Access Token Store and Authorization Code Store (when they are SQL): digests, never tokens.
tokens = Table(
    "tokens",
    metadata,
    Column("token_key", String(64), primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("grant_id", String(64), nullable=False),
    Column("client_id", String(64), nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("consumed", Boolean, nullable=False),
    Column("data", Text, nullable=False),
)
Index("ix_tokens_grant_id", tokens.c.grant_id)
Index("ix_tokens_client_id", tokens.c.client_id)
Index("ix_tokens_expires_at", tokens.c.expires_at)

# Traffic monitor: one row per transaction and per outbound call. Paths without query
# strings, client identifiers, statuses and timings only: never a header, body or token.
traffic = Table(
    "traffic",
    metadata,
    Column("tx_id", String(32), primary_key=True),
    Column("started_ms", BigInteger, nullable=False),
    Column("service", String(200), nullable=False),
    Column("client", String(255), nullable=False),
    Column("method", String(16), nullable=False),
    Column("path", String(2000), nullable=False),
    Column("status", Integer, nullable=False),
    Column("duration_ms", Float, nullable=False),
    Column("outbound_count", Integer, nullable=False),
)
Index("ix_traffic_started_ms", traffic.c.started_ms)
Index("ix_traffic_service", traffic.c.service)
Index("ix_traffic_client", traffic.c.client)

traffic_outbound = Table(
    "traffic_outbound",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tx_id", String(32), nullable=False),
    Column("tx_started_ms", BigInteger, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("kind", String(20), nullable=False),
    Column("method", String(16), nullable=False),
    Column("target", String(2000), nullable=False),
    Column("status", Integer, nullable=True),
    Column("offset_ms", Float, nullable=False),
    Column("duration_ms", Float, nullable=False),
    Column("error", String(200), nullable=True),
)
Index("ix_traffic_outbound_tx_id", traffic_outbound.c.tx_id)
Index("ix_traffic_outbound_tx_started_ms", traffic_outbound.c.tx_started_ms)
