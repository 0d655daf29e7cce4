"""The error types of authgate.

`OAuthError` is the one error a flow or endpoint raises toward a client. Its `code` is one of:

- RFC 6749 section 5.2: invalid_request, invalid_client, invalid_grant, unauthorized_client,
  unsupported_grant_type, invalid_scope;
- RFC 6749 section 4.1.2.1: access_denied, unsupported_response_type, server_error,
  temporarily_unavailable;
- RFC 6750 section 3.1: invalid_token, insufficient_scope;
- OpenID Connect Core 1.0 section 3.1.2.6: login_required, consent_required.

`StoreUnavailable` means a dependency (store, directory, policy) could not answer: the request
answers 503 `temporarily_unavailable`, never a verdict the dependency could not give.
`ConfigError` stops the program at start with one line naming the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

# RFC 6750 section 3: the challenge of every resource authgate guards with bearer tokens (the
# gateway, UserInfo, the JSON APIs, /metrics), with error details appended where they apply.
BEARER_CHALLENGE = 'Bearer realm="authgate"'

ErrorCode = Literal[
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
    "access_denied",
    "unsupported_response_type",
    "server_error",
    "temporarily_unavailable",
    "invalid_token",
    "insufficient_scope",
    "login_required",
    "consent_required",
]


def _is_rfc_text(text: str) -> bool:
    # RFC 6749 section 5.2: error_description is %x20-21 / %x23-5B / %x5D-7E.
    return all(0x20 <= ord(c) <= 0x7E and c not in '"\\' for c in text)


class OAuthError(Exception):
    """An RFC 6749 error: `description` goes to the client, `detail` only to logs."""

    def __init__(
        self,
        code: ErrorCode,
        description: str = "",
        status: int = 400,
        *,
        detail: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if not _is_rfc_text(description):
            raise ValueError(f"error_description outside RFC 6749 charset: {description!r}")
        super().__init__(f"{code}: {description}")
        self.code: ErrorCode = code
        self.description = description
        self.status = status
        self.detail = detail
        self.headers = dict(headers or {})

    def as_dict(self) -> dict[str, str]:
        body: dict[str, str] = {"error": self.code}
        if self.description:
            body["error_description"] = self.description
        return body


class StoreUnavailable(Exception):
    """A store, the directory or a policy failed: answer 503 temporarily_unavailable."""

    def __init__(self, what: str, cause: BaseException | None = None) -> None:
        super().__init__(f"{what} unavailable" + (f": {type(cause).__name__}" if cause else ""))
        self.what = what


class ConfigError(Exception):
    """A bad configuration: one line naming the dotted key and what is wrong."""
