"""`[oidc]`: the OpenID Provider's signing keys and id tokens."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from authgate.config.sections import Seconds, Section

SigningAlg = Literal["RS256", "ES256"]


class OidcSettings(Section):
    signing_alg: SigningAlg = Field(
        default="RS256",
        description="JWS algorithm of id tokens and JWT access tokens (a new key takes it)",
    )
    id_token_expiry: Seconds = Field(default=3600, description="seconds an id token is valid")
    key_retention: Seconds = Field(
        default=86400,
        description="seconds a replaced signing key stays in the JWKS, so that tokens it "
        "signed still verify",
    )
    key_file: str = Field(
        default="",
        description="file holding the secret the private keys are encrypted under (created "
        "on first use, mode 0600); empty: `authgate.key` beside the SQLite database",
    )

    def key_path(self, storage_url: str) -> Path:
        """`key_file`, or `authgate.key` beside an SQLite registry (else the working folder)."""
        if self.key_file:
            return Path(self.key_file)
        if storage_url.startswith("sqlite:///"):
            database = storage_url.removeprefix("sqlite:///").split("?", 1)[0]
            if database and database != ":memory:":
                return Path(database).parent / "authgate.key"
        return Path("authgate.key")
