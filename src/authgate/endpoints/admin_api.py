"""`/admin/api/v1`: the administration API (SPEC.md, "Administration API").

Each operation translates HTTP to a request model of authgate.operations and back; the table
below is both the router and the source of the OpenAPI document. Tokens need the reserved
`authgate:admin` scope.
"""

from __future__ import annotations

import functools
import json

from starlette.responses import Response

from authgate.config import GatewayRoute
from authgate.endpoints.json_api import (
    Answer,
    ApiOperation,
    Call,
    Items,
    JsonApi,
    body_of,
    location,
)
from authgate.endpoints.openapi import openapi_document
from authgate.endpoints.portal_api import PORTAL_API
from authgate.operations import applications, clients, consents, routes, tokens, users
from authgate.services import Services

PREFIX = "/admin/api/v1"
ADMIN_SCOPE = "authgate:admin"

# Clients


async def _list_clients(call: Call) -> Answer:
    return Answer(Items[clients.ClientView](items=await clients.list_clients(call.services)))


async def _create_client(call: Call) -> Answer:
    request = body_of(call, clients.ClientCreate)
    created = await clients.create_client(call.services, call.caller, request)
    return Answer(created, 201, location("clients", created.client_id))


async def _get_client(call: Call) -> Answer:
    return Answer(await clients.get_client(call.services, call.params["client_id"]))


async def _update_client(call: Call) -> Answer:
    changes = body_of(call, clients.ClientChanges)
    client_id = call.params["client_id"]
    return Answer(await clients.update_client(call.services, call.caller, client_id, changes))


async def _rotate_secret(call: Call) -> Answer:
    rotation = body_of(call, clients.SecretRotation)
    client_id = call.params["client_id"]
    return Answer(await clients.rotate_secret(call.services, call.caller, client_id, rotation))


async def _delete_client(call: Call) -> Answer:
    await clients.delete_client(call.services, call.caller, call.params["client_id"])
    return Answer()


# Users and their consents


async def _list_users(call: Call) -> Answer:
    return Answer(Items[users.UserView](items=await users.list_users(call.services)))


async def _create_user(call: Call) -> Answer:
    created = await users.create_user(call.services, call.caller, body_of(call, users.UserCreate))
    return Answer(created, 201, location("users", created.username))


async def _get_user(call: Call) -> Answer:
    return Answer(await users.get_user(call.services, call.params["username"]))


async def _update_user(call: Call) -> Answer:
    changes = body_of(call, users.UserChanges)
    username = call.params["username"]
    return Answer(await users.update_user(call.services, call.caller, username, changes))


async def _delete_user(call: Call) -> Answer:
    await users.delete_user(call.services, call.caller, call.params["username"])
    return Answer()


async def _unlock_user(call: Call) -> Answer:
    await users.unlock_user(call.services, call.caller, call.params["username"])
    return Answer()


async def _list_consents(call: Call) -> Answer:
    found = await consents.list_consents(call.services, call.params["username"])
    return Answer(Items[consents.ConsentView](items=found))


async def _withdraw_consent(call: Call) -> Answer:
    username, client_id = call.params["username"], call.params["client_id"]
    await consents.withdraw_consent(call.services, call.caller, username, client_id)
    return Answer()


async def _revoke_tokens(call: Call) -> Answer:
    request = body_of(call, tokens.TokenRevocation)
    return Answer(await tokens.revoke_tokens(call.services, call.caller, request))


# Gateway routes


async def _list_routes(call: Call) -> Answer:
    return Answer(Items[routes.RouteView](items=await routes.list_routes(call.services)))


async def _add_route(call: Call) -> Answer:
    added = await routes.add_route(call.services, call.caller, body_of(call, GatewayRoute))
    return Answer(added, 201, location("routes", added.service))


async def _get_route(call: Call) -> Answer:
    return Answer(await routes.get_route(call.services, call.params["service"]))


async def _replace_route(call: Call) -> Answer:
    route, service = body_of(call, GatewayRoute), call.params["service"]
    return Answer(await routes.replace_route(call.services, call.caller, service, route))


async def _delete_route(call: Call) -> Answer:
    await routes.delete_route(call.services, call.caller, call.params["service"])
    return Answer()


async def _list_applications(call: Call) -> Answer:
    found = await applications.list_applications(call.services)
    return Answer(Items[applications.ApplicationView](items=found))


OPERATIONS = (
    ApiOperation(
        "GET", "/clients", "List clients", _list_clients, answer=Items[clients.ClientView]
    ),
    ApiOperation(
        "POST",
        "/clients",
        "Register a client",
        _create_client,
        request=clients.ClientCreate,
        answer=clients.NewClient,
        status=201,
        errors=(409, 415, 422),
    ),
    ApiOperation(
        "GET",
        "/clients/{client_id}",
        "Show a client",
        _get_client,
        answer=clients.ClientView,
        errors=(404,),
    ),
    ApiOperation(
        "PATCH",
        "/clients/{client_id}",
        "Change a client (JSON merge patch)",
        _update_client,
        request=clients.ClientChanges,
        answer=clients.ClientView,
        errors=(404, 415, 422),
    ),
    ApiOperation(
        "POST",
        "/clients/{client_id}/secret",
        "Rotate a client's secret",
        _rotate_secret,
        request=clients.SecretRotation,
        request_required=False,
        answer=clients.NewSecret,
        errors=(404, 409, 415, 422),
    ),
    ApiOperation(
        "DELETE",
        "/clients/{client_id}",
        "Delete a client and revoke its tokens",
        _delete_client,
        status=204,
        errors=(404,),
    ),
    ApiOperation("GET", "/users", "List local users", _list_users, answer=Items[users.UserView]),
    ApiOperation(
        "POST",
        "/users",
        "Add a local user",
        _create_user,
        request=users.UserCreate,
        answer=users.UserView,
        status=201,
        errors=(409, 415, 422),
    ),
    ApiOperation(
        "GET", "/users/{username}", "Show a user", _get_user, answer=users.UserView, errors=(404,)
    ),
    ApiOperation(
        "PATCH",
        "/users/{username}",
        "Set a user's password",
        _update_user,
        request=users.UserChanges,
        answer=users.UserView,
        errors=(404, 415, 422),
    ),
    ApiOperation(
        "DELETE",
        "/users/{username}",
        "Delete a user, its tokens and consents",
        _delete_user,
        status=204,
        errors=(404,),
    ),
    ApiOperation(
        "POST", "/users/{username}/unlock", "Lift a brute-force lock", _unlock_user, status=204
    ),
    ApiOperation(
        "GET",
        "/users/{username}/consents",
        "A user's Approve Always grants",
        _list_consents,
        answer=Items[consents.ConsentView],
        errors=(404,),
    ),
    ApiOperation(
        "DELETE",
        "/users/{username}/consents/{client_id}",
        "Withdraw a consent and revoke that client's tokens for the user",
        _withdraw_consent,
        status=204,
        errors=(404,),
    ),
    ApiOperation(
        "POST",
        "/tokens/revoke",
        "Revoke every token of a client, a user or both",
        _revoke_tokens,
        request=tokens.TokenRevocation,
        answer=tokens.Revoked,
        errors=(415, 422),
    ),
    ApiOperation(
        "GET", "/routes", "List gateway routes", _list_routes, answer=Items[routes.RouteView]
    ),
    ApiOperation(
        "POST",
        "/routes",
        "Add a gateway route",
        _add_route,
        request=GatewayRoute,
        answer=routes.RouteView,
        status=201,
        errors=(409, 415, 422),
    ),
    ApiOperation(
        "GET",
        "/routes/{service}",
        "Show a route",
        _get_route,
        answer=routes.RouteView,
        errors=(404,),
    ),
    ApiOperation(
        "PUT",
        "/routes/{service}",
        "Replace a route",
        _replace_route,
        request=GatewayRoute,
        answer=routes.RouteView,
        errors=(404, 409, 415, 422),
    ),
    ApiOperation(
        "DELETE",
        "/routes/{service}",
        "Delete a route",
        _delete_route,
        status=204,
        errors=(404, 409),
    ),
    ApiOperation(
        "GET",
        "/applications",
        "List developer portal applications",
        _list_applications,
        answer=Items[applications.ApplicationView],
    ),
)


@functools.cache
def _document() -> bytes:
    return json.dumps(openapi_document([ADMIN_API, PORTAL_API])).encode()


def _openapi(_services: Services) -> Response:
    """`GET /admin/api/v1/openapi.json`, no token needed: this API and the portal's."""
    return Response(_document(), media_type="application/json")


ADMIN_API = JsonApi(
    prefix=PREFIX,
    scope=ADMIN_SCOPE,
    face="admin_api",
    title="authgate administration API",
    operations=OPERATIONS,
    public_paths={"/openapi.json": _openapi},
)

# Every JSON API the application serves, each below its own prefix.
JSON_APIS = (ADMIN_API, PORTAL_API)
