"""`/portal/api/v1`: the developer portal's JSON API (SPEC.md, "Developer portal").

Its operations go in PORTAL_OPERATIONS, in the form of endpoints/admin_api.py: the same
machinery answers them (tokens with `authgate:portal`, whose `sub` is the developer) and
the same `openapi.json` describes them.
"""

from __future__ import annotations

from authgate.endpoints.json_api import ApiOperation, JsonApi

PREFIX = "/portal/api/v1"
PORTAL_SCOPE = "authgate:portal"

# TODO(#13): the portal's applications and keys.
PORTAL_OPERATIONS: tuple[ApiOperation, ...] = ()

PORTAL_API = JsonApi(
    prefix=PREFIX,
    scope=PORTAL_SCOPE,
    face="portal",
    title="authgate developer portal API",
    operations=PORTAL_OPERATIONS,
)
