"""OpenID Connect: signing keys, the key ring, id tokens and RFC 9068 JWT access tokens.

No web framework here: the endpoints (discovery, JWKS, UserInfo, logout) are in endpoints/.
"""

from authgate.oidc.access_tokens import looks_like_jwt
from authgate.oidc.key_ring import InvalidToken, KeyRing
from authgate.oidc.provider import OPENID, OpenIDProvider
from authgate.oidc.signing_keys import StoredKey

__all__ = ["OPENID", "InvalidToken", "KeyRing", "OpenIDProvider", "StoredKey", "looks_like_jwt"]
