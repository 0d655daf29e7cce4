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
from sqlalchemy.dialects.mysql import VARCHAR

metadata = MetaData()

# A canonical username (authgate.usernames). MariaDB's default collation would match `é` to
# `e` and `ß` to `ss`: distinct canonical names must stay distinct, so compare bytes there.
Username = String(255).with_variant(VARCHAR(255, collation="utf8mb4_bin"), "mysql", "mariadb")

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
    # A rotated-out secret, accepted until `previous_secret_expires_at` (rotation's grace).
    Column("previous_secret_hash", String(64), nullable=True),
    Column("previous_secret_expires_at", BigInteger, nullable=True),
    # RFC 8705 client authentication: "secret", "tls_client_auth" (subject DN) or
    # "self_signed_tls_client_auth" (the PEM certificate itself).
    Column("auth_method", String(32), nullable=False, server_default="secret"),
    Column("tls_subject_dn", Text, nullable=True),
    Column("tls_certificate", Text, nullable=True),
    # A developer portal application's key: its application and environment ("production"
    # or "sandbox"); NULL for a client an operator registered. One key per environment.
    Column("app_id", String(32), nullable=True),
    Column("environment", String(16), nullable=True),
)
Index("ix_clients_app_environment", clients.c.app_id, clients.c.environment, unique=True)

# Developer portal applications; their keys are clients (above) that name the application.
applications = Table(
    "applications",
    metadata,
    Column("app_id", String(32), primary_key=True),
    Column("owner", Username, nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

# Local User Store and the manager's administrators: argon2id hashes only.
users = Table(
    "users",
    metadata,
    Column("username", Username, primary_key=True),
    Column("password_hash", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

admins = Table(
    "admins",
    metadata,
    Column("username", Username, primary_key=True),
    Column("password_hash", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

# Approve Always: the scopes a user granted a client for good.
consents = Table(
    "consents",
    metadata,
    Column("username", Username, primary_key=True),
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
    Column("username", Username, nullable=True),
    Column("csrf_token", String(64), nullable=False),
    Column("data", Text, nullable=False),
    Column("expires_at", BigInteger, nullable=False, index=True),
)


# Brute-force protection: failures in a row per username, known or not, and the attempts
# whose password is being checked (`pending`, lapsing at `pending_until`). Users and the
# manager's administrators are counted apart, each in a table of this shape.
def _lockout_table(name: str) -> Table:
    return Table(
        name,
        metadata,
        Column("username", Username, primary_key=True),
        Column("failures", Integer, nullable=False),
        Column("lock_count", Integer, nullable=False),
        Column("locked_until", BigInteger, nullable=False),
        Column("last_failure", BigInteger, nullable=False),
        Column("pending", Integer, nullable=False),
        Column("pending_until", BigInteger, nullable=False),
    )


lockouts = _lockout_table("lockouts")
admin_lockouts = _lockout_table("admin_lockouts")

# Keys every server process shares, made once by the first that needs one (e.g. the key that
# signs the CSRF tokens of the login pages, which store nothing before a login).
server_secrets = Table(
    "server_secrets",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("secret", String(128), nullable=False),
    Column("created_at", BigInteger, nullable=False),
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
    Column("username", String(255), nullable=True),  # the user behind it, for revoke_user
)
Index("ix_tokens_grant_id", tokens.c.grant_id)
Index("ix_tokens_client_id", tokens.c.client_id)
Index("ix_tokens_expires_at", tokens.c.expires_at)
# Only tokens with a user (client_credentials tokens have none): one index fewer to write
# for each of those (SQLite and PostgreSQL; MariaDB has no partial indexes and keeps all).
Index(
    "ix_tokens_username",
    tokens.c.username,
    tokens.c.client_id,
    sqlite_where=tokens.c.username.is_not(None),
    postgresql_where=tokens.c.username.is_not(None),
)

# Gateway routes added through the administration API or `authgate route add`; the routes of
# the configuration file are never stored. `settings` is the route's [[gateway.routes]] keys
# as JSON, so a new key needs no migration.
routes = Table(
    "routes",
    metadata,
    Column("service", String(200), primary_key=True),
    Column("path", String(700), nullable=False, unique=True),
    Column("settings", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

# One counter per kind of shared state that every process rebuilds from the registry when it
# moves ("routes"): a poll reads one row instead of the whole table.
versions = Table(
    "versions",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("version", BigInteger, nullable=False),
)

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
    # A gateway call: the client and the user of its access token (a portal application's
    # usage is counted from these, for as long as the row is kept).
    Column("token_client_id", String(64), nullable=True),
    Column("token_username", String(255), nullable=True),
)
Index("ix_traffic_started_ms", traffic.c.started_ms)
Index(  # gateway calls only, as ix_tokens_username holds tokens with a user only
    "ix_traffic_token_client_id",
    traffic.c.token_client_id,
    traffic.c.started_ms,
    sqlite_where=traffic.c.token_client_id.is_not(None),
    postgresql_where=traffic.c.token_client_id.is_not(None),
)
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

# Signing keys of id tokens and JWT access tokens. `private_key` is the private JWK sealed
# under the secret of `[oidc] key_file`, so a copy of the database alone signs nothing.
# The newest key not retired is current; a retired one stays published until it expires.
signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("alg", String(16), nullable=False),
    Column("public_key", Text, nullable=False),
    Column("private_key", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("retired_at", BigInteger, nullable=True),
)
