"""OpenID Connect: signing keys, the key ring, id tokens and RFC 9068 JWT access tokens.

No web framework here: the endpoints (discovery, JWKS, UserInfo, logout) are in endpoints/.
Importing the package loads no JOSE or X.509 library: `OpenIDProvider` builds its key ring
on first use (provider.py).
"""

from authgate.oidc.errors import InvalidToken
from authgate.oidc.provider import OPENID, OpenIDProvider

__all__ = ["OPENID", "InvalidToken", "OpenIDProvider"]
