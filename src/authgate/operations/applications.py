"""Developer portal applications, as the administration sees them (every owner's).

The portal's own tables and operations land with the developer portal (SPEC.md, "Developer
portal"); until then there is no application to list.
"""

from __future__ import annotations

from authgate.operations.base import Model
from authgate.services import Services


class KeyView(Model):
    client_id: str
    environment: str
    redirect_uris: list[str]
    grant_types: list[str]
    scopes: list[str]
    created_at: int


class ApplicationView(Model):
    app_id: str
    name: str
    description: str
    owner: str
    created_at: int
    keys: dict[str, KeyView | None]


async def list_applications(services: Services) -> list[ApplicationView]:
    # TODO(#13): the portal's applications table; this is where its listing plugs in.
    return []
