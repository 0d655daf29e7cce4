"""A client as a row of the `clients` table: the columns read, in order, the record made from
them, and the column values written for a record."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from authgate.models import Client

CLIENT_COLUMNS = (
    "client_id, name, secret_hash, redirect_uris, scopes, grant_types, is_public, "
    "can_introspect, created_at, previous_secret_hash, previous_secret_expires_at, "
    "auth_method, tls_subject_dn, tls_certificate, app_id, environment"
)


def client_from_row(row: Sequence[Any]) -> Client:
    """A client from the columns of CLIENT_COLUMNS, in that order."""
    return Client(
        client_id=row[0],
        name=row[1],
        secret_hash=row[2],
        redirect_uris=tuple(json.loads(row[3])),
        scopes=tuple(json.loads(row[4])),
        grant_types=tuple(json.loads(row[5])),
        is_public=bool(row[6]),
        can_introspect=bool(row[7]),
        created_at=row[8],
        previous_secret_hash=row[9],
        previous_secret_expires_at=row[10] or 0,
        auth_method=row[11],
        tls_subject_dn=row[12],
        tls_certificate=row[13],
        app_id=row[14],
        environment=row[15],
    )


def client_values(client: Client) -> dict[str, Any]:
    """The column values of a client's row: what `client_from_row` reads back."""
    return {
        "client_id": client.client_id,
        "name": client.name,
        "secret_hash": client.secret_hash,
        "redirect_uris": json.dumps(list(client.redirect_uris)),
        "scopes": json.dumps(list(client.scopes)),
        "grant_types": json.dumps(list(client.grant_types)),
        "is_public": client.is_public,
        "can_introspect": client.can_introspect,
        "created_at": client.created_at,
        "previous_secret_hash": client.previous_secret_hash,
        "previous_secret_expires_at": client.previous_secret_expires_at,
        "auth_method": client.auth_method,
        "tls_subject_dn": client.tls_subject_dn,
        "tls_certificate": client.tls_certificate,
        "app_id": client.app_id,
        "environment": client.environment,
    }
