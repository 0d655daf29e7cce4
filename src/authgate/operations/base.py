"""What every operation shares: who acts (`Caller`), what can go wrong, and request parsing.

Each face maps the three errors once: the administration API to RFC 9457 problem details
(404, 409, 422), the CLI to one line and exit status 2, the manager pages to a form error.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

# Defined with the settings, which refuse them in `[portal] scopes` too.
from authgate.config import RESERVED_SCOPES as RESERVED_SCOPES
from authgate.services import Services
from authgate.stores import TokenStore

Face = Literal["cli", "admin_api", "manager", "portal"]

OPERATOR_FACES: frozenset[Face] = frozenset({"cli", "admin_api"})


@dataclass(frozen=True, slots=True)
class Caller:
    """Who acts, for the audit events: the face and the name behind it (an administrator,
    a client id, the operating-system user of the CLI)."""

    face: Face
    name: str = ""

    @property
    def is_operator(self) -> bool:
        return self.face in OPERATOR_FACES


class OperationError(Exception):
    """A request the operation refuses; `message` is safe to show to the caller."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(OperationError):
    """The named client, user, consent or route does not exist."""


class Conflict(OperationError):
    """The request clashes with what exists: a name in use, a route of the configuration."""


class Invalid(OperationError):
    """The request breaks a rule; `field` names the member at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = message


class Model(BaseModel):
    """A request or result of the administration: frozen, unknown members refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], data: Mapping[str, Any] | Any) -> M:
    """Validate a face's input as `model`; the first broken rule becomes Invalid(field)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"]) or "body"
        raise Invalid(field, error["msg"]) from None


def audit(services: Services, caller: Caller, action: str, target: str) -> None:
    """One `admin.<action>` event per change: who, through which face, on what. Never a
    secret: targets are client ids, usernames and service names."""
    services.events.emit(f"admin.{action}", face=caller.face, actor=caller.name, target=target)


async def each_store(services: Services, revoke: Callable[[TokenStore], Awaitable[int]]) -> int:
    """Revoke in the token store and, when it is another, the code store; how many in all."""
    removed = 0
    for store in services.token_stores:
        removed += await revoke(store)
    return removed
