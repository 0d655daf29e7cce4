"""The names of authgate's own cookies, in one place.

The pages set them; the gateway keeps them away from upstreams, which share authgate's
origin but not its trust: an upstream that read them could act as the browser's session, and
one that set them could fix a session (SPEC.md, Hardening).
"""

from __future__ import annotations

SESSION = "authgate_session"  # the login and consent pages
MANAGER = "authgate_manager"  # the web manager
PLAYGROUND = "playground_flow"  # the playground client's state and code_verifier
TRY_IT = "portal_try_it"  # the key that opens the secret of a portal Try it flow
LOGIN_SUFFIX = "_login"  # a realm's pre-login CSRF cookie, e.g. authgate_session_login

HOST_PREFIX = "__Host-"  # RFC 6265bis 4.1.3.2, taken over https for a cookie of path /


def _every_spelling(names: tuple[str, ...]) -> frozenset[bytes]:
    return frozenset(
        spelling.encode("ascii") for name in names for spelling in (name, HOST_PREFIX + name)
    )


OWN_COOKIE_NAMES = _every_spelling(
    (SESSION, MANAGER, SESSION + LOGIN_SUFFIX, MANAGER + LOGIN_SUFFIX, PLAYGROUND, TRY_IT)
)
