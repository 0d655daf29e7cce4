"""What every grant's flow takes and gives: a parsed token request in, a TokenGrant out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from authgate.config import GrantType, TokenSettings
from authgate.forms import Form
from authgate.models import Client
from authgate.tokens import Binding, TokenGrant


@dataclass(slots=True)
class TokenRequest:
    """A token request after client authentication; flows never see the web framework."""

    client: Client
    form: Form
    # The request's attribute dict (the seeds' "message attributes"): policies read it,
    # flows write the subject and approved scopes into it, monitoring reads the client.
    attributes: dict[str, Any] = field(default_factory=dict)
    # The SHA-256 thumbprint of the connection's client certificate (RFC 8705), if any.
    certificate_thumbprint: str | None = None

    @property
    def binding(self) -> Binding:
        """What the tokens issued for this request are bound to."""
        return Binding(self.certificate_thumbprint, refresh=self.client.is_public)


class Flow(Protocol):
    grant_type: ClassVar[GrantType]
    # Parameters of this grant that must not be repeated (RFC 6749 section 3.1).
    parameters: ClassVar[tuple[str, ...]]

    async def run(self, req: TokenRequest) -> TokenGrant: ...


class TokenSigner(Protocol):
    """The OpenID Provider's last step of a token response (oidc.OpenIDProvider.finish): the
    access token as a JWT where `access_token_format` says so, and the id token."""

    async def finish(
        self,
        grant: TokenGrant,
        settings: TokenSettings,
        *,
        id_token: bool = False,
        nonce: str | None = None,
    ) -> TokenGrant: ...


class Unsigned:
    """No OpenID Provider: opaque access tokens and no id token (flows tested alone)."""

    async def finish(
        self,
        grant: TokenGrant,
        settings: TokenSettings,
        *,
        id_token: bool = False,
        nonce: str | None = None,
    ) -> TokenGrant:
        return grant
