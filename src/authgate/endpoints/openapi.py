"""The OpenAPI 3.1 document of authgate's JSON APIs, written from their operation tables.

The schemas are pydantic's JSON Schema (draft 2020-12, which OpenAPI 3.1 uses) of the very
models that validate the requests and shape the answers, so the document cannot drift from
what the server does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from authgate import __version__
from authgate.endpoints.json_api import PROBLEM_TYPE, ApiOperation, JsonApi

_REF = "#/components/schemas/{model}"
_PROBLEM = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
    },
}
# A path parameter can spell a path that is not in normal form (`..`, `%2f`, `%5c`): such a
# request is refused before any route is matched, with an RFC 6749 error (SPEC.md, Hardening).
_OAUTH_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
}
_NOT_NORMAL = {
    "description": "The request path is not in normal form; refused before routing",
    "content": {"application/json": {"schema": {"$ref": _REF.format(model="OAuthError")}}},
}
_ERRORS = {
    401: "No token, or an invalid or expired one",
    403: "The token lacks the API's scope",
    404: "No such resource",
    405: "Method not allowed",
    409: "Conflict with what exists",
    413: "The body is over 64 KiB",
    415: "The body is not JSON",
    422: "The body breaks a rule; `detail` names the field",
    503: "A store is unavailable",
}


def _models(apis: Sequence[JsonApi]) -> list[type[BaseModel]]:
    found: dict[type[BaseModel], None] = {}
    for api in apis:
        for operation in api.operations:
            for model in (operation.request, operation.answer):
                if model is not None:
                    found[model] = None
    return list(found)


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {PROBLEM_TYPE: {"schema": {"$ref": _REF.format(model="Problem")}}},
    }


def _operation(
    api: JsonApi, operation: ApiOperation, refs: Mapping[tuple[Any, Any], Any]
) -> dict[str, Any]:
    success: dict[str, Any] = {"description": operation.summary}
    if operation.answer is not None:
        schema = refs[(operation.answer, "serialization")]
        success["content"] = {"application/json": {"schema": schema}}
    if operation.status == 201:
        success["headers"] = {"Location": {"schema": {"type": "string"}}}
    responses: dict[str, Any] = {str(operation.status): success}
    for status in sorted({401, 403, 503, *operation.errors}):
        responses[str(status)] = _problem(_ERRORS[status])
    described: dict[str, Any] = {
        "summary": operation.summary,
        "operationId": f"{operation.method.lower()}{api.prefix}{operation.path}".replace("/", "_")
        .replace("{", "")
        .replace("}", ""),
        "security": [{"bearer": [api.scope]}],
        "responses": responses,
    }
    if operation.parameters:
        responses["400"] = _NOT_NORMAL
        described["parameters"] = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in operation.parameters
        ]
    if operation.request is not None:
        responses["413"] = _problem(_ERRORS[413])
        described["requestBody"] = {
            "required": operation.request_required,
            "content": {"application/json": {"schema": refs[(operation.request, "validation")]}},
        }
    return described


def openapi_document(apis: Sequence[JsonApi]) -> dict[str, Any]:
    models = _models(apis)
    pairs = [(m, "validation") for m in models] + [(m, "serialization") for m in models]
    refs, definitions = models_json_schema(pairs, ref_template=_REF)  # type: ignore[arg-type]  # pydantic's Literal mode
    schemas: dict[str, Any] = {
        **definitions.get("$defs", {}),
        "Problem": _PROBLEM,
        "OAuthError": _OAUTH_ERROR,
    }
    paths: dict[str, dict[str, Any]] = {}
    for api in apis:
        for operation in api.operations:
            path = paths.setdefault(api.prefix + operation.path, {})
            path[operation.method.lower()] = _operation(api, operation, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "authgate",
            "version": __version__,
            "description": " and ".join(api.title for api in apis),
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
