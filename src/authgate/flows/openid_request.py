"""The OpenID Connect parameters of an authorization request: `nonce`, `prompt`, `max_age`
(OpenID Connect Core 1.0 section 3.1.2.1), and whether they ask for a fresh login."""

from __future__ import annotations

from dataclasses import dataclass

from authgate.errors import OAuthError
from authgate.forms import Form

MAX_NONCE = 1024  # characters: the request waits in a session row, which stays bounded
PROMPTS = frozenset({"none", "login", "consent", "select_account"})
PARAMETERS = ("nonce", "prompt", "max_age")


@dataclass(frozen=True, slots=True)
class OpenIDParameters:
    nonce: str | None = None
    prompt: tuple[str, ...] = ()
    max_age: int | None = None  # seconds since the last login the user may be trusted for


def parse_openid_parameters(form: Form) -> OpenIDParameters:
    """The checked parameters; OAuthError `invalid_request` for a malformed one."""
    form.reject_repeated(PARAMETERS)
    nonce = form.get("nonce")
    if nonce is not None and len(nonce) > MAX_NONCE:
        raise OAuthError("invalid_request", f"nonce is longer than {MAX_NONCE} characters")
    prompt = tuple(dict.fromkeys((form.get("prompt") or "").split()))
    if not set(prompt) <= PROMPTS:
        raise OAuthError("invalid_request", "prompt has an unknown value")
    if "none" in prompt and len(prompt) > 1:
        raise OAuthError("invalid_request", "prompt=none cannot be combined (section 3.1.2.1)")
    return OpenIDParameters(nonce, prompt, _max_age(form.get("max_age")))


def _max_age(value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isdigit() or len(value) > 10:
        raise OAuthError("invalid_request", "max_age must be a number of seconds")
    return int(value)


def needs_fresh_login(
    prompt: tuple[str, ...], max_age: int | None, auth_time: int | None, at: int
) -> bool:
    """`prompt=login`, or a login older than `max_age` (or of unknown age)."""
    if "login" in prompt:
        return True
    if max_age is None:
        return False
    return auth_time is None or at - auth_time >= max_age
