"""`/portal/api/v1`: the developer portal's JSON API (SPEC.md, "Developer portal").

The machinery of endpoints/json_api.py answers it as it answers the administration API:
tokens need `authgate:portal`, and their `sub` is the developer, who sees only their own
applications (another developer's is 404). The same `openapi.json` describes both APIs.
"""

from __future__ import annotations

from authgate.endpoints.json_api import (
    Answer,
    ApiOperation,
    Call,
    Items,
    JsonApi,
    body_of,
    location,
)
from authgate.operations import applications, clients

PREFIX = "/portal/api/v1"
PORTAL_SCOPE = "authgate:portal"


async def _list(call: Call) -> Answer:
    found = await applications.list_applications(call.services, call.caller.name)
    return Answer(Items[applications.ApplicationView](items=found))


async def _create(call: Call) -> Answer:
    request = body_of(call, applications.ApplicationCreate)
    created = await applications.create_application(call.services, call.caller, request)
    return Answer(created, 201, location("applications", created.app_id))


async def _get(call: Call) -> Answer:
    app_id = call.params["app_id"]
    return Answer(await applications.get_application(call.services, call.caller, app_id))


async def _update(call: Call) -> Answer:
    changes = body_of(call, applications.ApplicationChanges)
    app_id = call.params["app_id"]
    return Answer(
        await applications.update_application(call.services, call.caller, app_id, changes)
    )


async def _delete(call: Call) -> Answer:
    await applications.delete_application(call.services, call.caller, call.params["app_id"])
    return Answer()


async def _create_key(call: Call) -> Answer:
    request = body_of(call, applications.KeyCreate)
    app_id, environment = call.params["app_id"], call.params["environment"]
    created = await applications.create_key(
        call.services, call.caller, app_id, environment, request
    )
    return Answer(created, 201, f"/applications/{app_id}/keys/{created.environment}")


async def _get_key(call: Call) -> Answer:
    app_id, environment = call.params["app_id"], call.params["environment"]
    return Answer(await applications.get_key(call.services, call.caller, app_id, environment))


async def _update_key(call: Call) -> Answer:
    changes = body_of(call, applications.KeyChanges)
    app_id, environment = call.params["app_id"], call.params["environment"]
    return Answer(
        await applications.update_key(call.services, call.caller, app_id, environment, changes)
    )


async def _delete_key(call: Call) -> Answer:
    app_id, environment = call.params["app_id"], call.params["environment"]
    await applications.delete_key(call.services, call.caller, app_id, environment)
    return Answer()


async def _rotate_secret(call: Call) -> Answer:
    app_id, environment = call.params["app_id"], call.params["environment"]
    return Answer(
        await applications.rotate_key_secret(call.services, call.caller, app_id, environment)
    )


async def _usage(call: Call) -> Answer:
    app_id = call.params["app_id"]
    return Answer(await applications.usage(call.services, call.caller, app_id))


KEYS = "/applications/{app_id}/keys/{environment}"

PORTAL_OPERATIONS: tuple[ApiOperation, ...] = (
    ApiOperation(
        "GET",
        "/applications",
        "List the caller's applications",
        _list,
        answer=Items[applications.ApplicationView],
    ),
    ApiOperation(
        "POST",
        "/applications",
        "Create an application",
        _create,
        request=applications.ApplicationCreate,
        answer=applications.ApplicationView,
        status=201,
        errors=(415, 422),
    ),
    ApiOperation(
        "GET",
        "/applications/{app_id}",
        "Show an application",
        _get,
        answer=applications.ApplicationView,
        errors=(404,),
    ),
    ApiOperation(
        "PATCH",
        "/applications/{app_id}",
        "Change an application (JSON merge patch)",
        _update,
        request=applications.ApplicationChanges,
        answer=applications.ApplicationView,
        errors=(404, 415, 422),
    ),
    ApiOperation(
        "DELETE",
        "/applications/{app_id}",
        "Delete an application, its keys and their tokens",
        _delete,
        status=204,
        errors=(404,),
    ),
    ApiOperation(
        "GET",
        "/applications/{app_id}/usage",
        "Requests and distinct users per service over the last 24 hours",
        _usage,
        answer=applications.UsageView,
        errors=(404,),
    ),
    ApiOperation(
        "POST",
        KEYS,
        "Generate the keys of an environment (the secret is shown once)",
        _create_key,
        request=applications.KeyCreate,
        answer=applications.NewKey,
        status=201,
        errors=(404, 409, 415, 422),
    ),
    ApiOperation("GET", KEYS, "Show a key", _get_key, answer=applications.KeyView, errors=(404,)),
    ApiOperation(
        "PATCH",
        KEYS,
        "Change a key (JSON merge patch)",
        _update_key,
        request=applications.KeyChanges,
        answer=applications.KeyView,
        errors=(404, 415, 422),
    ),
    ApiOperation(
        "DELETE", KEYS, "Delete a key and revoke its tokens", _delete_key, status=204, errors=(404,)
    ),
    ApiOperation(
        "POST",
        KEYS + "/secret",
        "Regenerate a key's secret (the old one stops at once)",
        _rotate_secret,
        answer=clients.NewSecret,
        errors=(404,),
    ),
)

PORTAL_API = JsonApi(
    prefix=PREFIX,
    scope=PORTAL_SCOPE,
    face="portal",
    title="authgate developer portal API",
    operations=PORTAL_OPERATIONS,
)
