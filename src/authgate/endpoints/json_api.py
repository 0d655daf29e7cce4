"""The machinery of authgate's JSON APIs (administration, portal): one table of operations
that both answers requests and writes the OpenAPI document (endpoints/openapi.py).

An operation names its method, path, request model and answer model; this module turns a
request into the operation's call: bearer token checked as the gateway checks it, then the
scope, then the body (JSON only, validated by the request model). Every failure becomes an
RFC 9457 problem: 401, 403, 404, 405, 409, 413, 415, 422, and 503 when a store is down.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Generic, TypeVar
from urllib.parse import quote, unquote

from pydantic import BaseModel
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from authgate.endpoints.responses import OUTAGES
from authgate.errors import BEARER_CHALLENGE as CHALLENGE
from authgate.errors import OAuthError, StoreUnavailable
from authgate.gateway.headers import Incoming
from authgate.limits import BodyTooLarge, ClientGone, read_body
from authgate.models import TokenRecord
from authgate.operations import Caller, Conflict, Face, Invalid, Model, NotFound, parse
from authgate.services import Services

log = logging.getLogger("authgate.api")

PROBLEM_TYPE = "application/problem+json"
_JSON_TYPE = re.compile(r"application/([a-z0-9.+-]+\+)?json", re.IGNORECASE)
_PARAMETER = re.compile(r"\{([a-z_]+)\}")


class Problem(Exception):
    """An RFC 9457 answer: `detail` is shown to the caller, so it never holds a secret."""

    def __init__(self, status: int, detail: str, headers: Mapping[str, str] | None = None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = dict(headers or {})


def problem_response(problem: Problem) -> Response:
    body = {
        "type": "about:blank",
        "title": HTTPStatus(problem.status).phrase,
        "status": problem.status,
        "detail": problem.detail,
    }
    headers = {"Cache-Control": "no-store", **problem.headers}
    return Response(json.dumps(body), problem.status, headers, media_type=PROBLEM_TYPE)


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    headers = {"Cache-Control": "no-store", **(headers or {})}
    return Response(json.dumps(body), status, headers, media_type="application/json")


T = TypeVar("T", bound=BaseModel)


class Items(Model, Generic[T]):
    """A listing: `{"items": [...]}`."""

    items: list[T]


def location(collection: str, name: str) -> str:
    """The path of a created resource: its name percent-encoded, as a header must be ASCII."""
    return f"/{collection}/{quote(name, safe='')}"


@dataclass(frozen=True, slots=True)
class Call:
    """What an operation gets: the services, who calls, the path's parameters, the body."""

    services: Services
    caller: Caller
    params: dict[str, str]
    body: BaseModel | None
    token: TokenRecord


def body_of(call: Call, model: type[T]) -> T:
    assert isinstance(call.body, model)  # noqa: S101 - JsonApi validated it as this model
    return call.body


@dataclass(frozen=True, slots=True)
class Answer:
    """An operation's result: a model (or None for 204) and, after a creation, `location`."""

    body: BaseModel | None = None
    status: int = 200
    location: str | None = None


@dataclass(frozen=True, slots=True)
class ApiOperation:
    method: str
    path: str  # below the API's prefix, with `{name}` parameters
    summary: str
    run: Callable[[Call], Awaitable[Answer]]
    request: type[BaseModel] | None = None
    request_required: bool = True
    answer: type[BaseModel] | None = None  # None: 204 No Content
    status: int = 200
    errors: tuple[int, ...] = ()  # besides 401 and 403, which every operation may answer

    @property
    def parameters(self) -> list[str]:
        return _PARAMETER.findall(self.path)


@dataclass(frozen=True)
class JsonApi:
    """One API: its prefix, the scope its tokens need, the face it acts as, its operations."""

    prefix: str
    scope: str
    face: Face
    title: str
    operations: Sequence[ApiOperation]
    public_paths: Mapping[str, Callable[[Services], Response]] = field(default_factory=dict)

    def _match(self, method: str, segments: list[str]) -> tuple[ApiOperation, dict[str, str]]:
        allowed: list[str] = []
        for operation in self.operations:
            pattern = operation.path.strip("/").split("/")
            if len(pattern) != len(segments):
                continue
            params = {}
            for expected, actual in zip(pattern, segments, strict=True):
                if expected.startswith("{"):
                    if not actual:
                        break
                    params[expected[1:-1]] = actual
                elif expected != actual:
                    break
            else:
                if operation.method == method:
                    return operation, params
                allowed.append(operation.method)
        if allowed:
            raise Problem(
                405, f"this path takes {', '.join(allowed)}", {"Allow": ", ".join(allowed)}
            )
        raise Problem(404, "no such path in this API")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            response = await self._answer(scope, receive)
        except ClientGone:
            return  # gone while sending its body: nobody to answer
        except Problem as problem:
            response = problem_response(problem)
        except StoreUnavailable as exc:
            OUTAGES.answered_503(exc)
            response = problem_response(
                Problem(503, f"{exc.what} is unavailable", {"Retry-After": "5"})
            )
        except Exception:
            log.exception("unhandled error on %s", scope["path"])
            response = problem_response(Problem(500, "the server failed to answer"))
        await response(scope, receive, send)

    async def _answer(self, scope: Scope, receive: Receive) -> Response:
        raw: bytes = scope.get("raw_path") or scope["path"].encode()
        below = raw.split(b"?", 1)[0].decode("latin-1")[len(self.prefix) :]
        services: Services = scope["app"].state.services
        public = self.public_paths.get(below)
        if public is not None and scope["method"] in ("GET", "HEAD"):
            return public(services)
        try:
            segments = [unquote(part, errors="strict") for part in below.strip("/").split("/")]
        except UnicodeDecodeError:
            raise Problem(404, "no such path in this API") from None
        operation, params = self._match(scope["method"], segments)
        token = await self._authenticate(scope)
        body = await self._body(scope, receive, operation)
        # The actor: the user behind the token, or the client of a client_credentials one.
        caller = Caller(self.face, token.subject or token.client_id)
        call = Call(services, caller, params, body, token)
        try:
            answer = await operation.run(call)
        except NotFound as exc:
            raise Problem(404, exc.message) from None
        except Conflict as exc:
            raise Problem(409, exc.message) from None
        except Invalid as exc:
            raise Problem(422, exc.message) from None
        if answer.body is None:
            return Response(status_code=204, headers={"Cache-Control": "no-store"})
        headers = {"Location": self.prefix + answer.location} if answer.location else None
        return json_response(answer.body.model_dump(mode="json"), answer.status, headers)

    async def _authenticate(self, scope: Scope) -> TokenRecord:
        """The bearer token, checked by the gateway's own code, then the API's scope."""
        gateway = scope["app"].state.gateway
        try:
            record: TokenRecord = await gateway.authenticate(
                Incoming(scope["headers"], b"x-authgate-"),
                scope.get("query_string", b""),
                has_form=False,  # the JSON APIs take JSON bodies only (else 415)
            )
        except OAuthError as exc:
            challenge = (exc.headers or {}).get("WWW-Authenticate", CHALLENGE)
            if exc.status != 401:  # a malformed token is a bad token all the same
                challenge = f'{CHALLENGE}, error="invalid_token"'
            raise Problem(401, exc.description, {"WWW-Authenticate": challenge}) from None
        if self.scope not in record.scopes:
            challenge = f'{CHALLENGE}, error="insufficient_scope", scope="{self.scope}"'
            raise Problem(
                403, f"the token lacks the {self.scope} scope", {"WWW-Authenticate": challenge}
            )
        return record

    @staticmethod
    async def _body(scope: Scope, receive: Receive, operation: ApiOperation) -> BaseModel | None:
        """The body as the operation's request model. Read here, after the token was checked
        (the route table lets it stream), so that its 413 is a problem like any other."""
        if operation.request is None:
            return None
        try:
            body = await read_body(scope, receive)
        except BodyTooLarge:
            raise Problem(413, "the request body is over 64 KiB") from None
        content_type = ""
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value.decode("latin-1").split(";", 1)[0].strip()
        if not body.strip() and not content_type and not operation.request_required:
            return operation.request()
        if not _JSON_TYPE.fullmatch(content_type):
            raise Problem(415, "the body must be JSON (Content-Type: application/json)")
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            raise Problem(415, "the body is not JSON") from None
        if not isinstance(data, dict):
            raise Problem(422, "body: must be a JSON object")
        try:
            return parse(operation.request, data)
        except Invalid as exc:
            raise Problem(422, exc.message) from None
