"""The administration as plain async functions over the registry and the token stores.

One module per resource (clients, users and administrators, consents, tokens, routes). The
faces (the administration API, the manager pages, the CLI) only translate their input into
the request models here and map the three errors (`NotFound`, `Conflict`, `Invalid`) to their
own answers. Nothing here speaks HTTP.
"""

from authgate.operations import applications, clients, consents, routes, tokens, users
from authgate.operations.base import (
    RESERVED_SCOPES,
    Caller,
    Conflict,
    Face,
    Invalid,
    Model,
    NotFound,
    OperationError,
    parse,
)

__all__ = [
    "RESERVED_SCOPES",
    "Caller",
    "Conflict",
    "Face",
    "Invalid",
    "Model",
    "NotFound",
    "OperationError",
    "applications",
    "clients",
    "consents",
    "parse",
    "routes",
    "tokens",
    "users",
]
