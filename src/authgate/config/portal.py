"""`[portal]`: the developer portal, where developers register their own applications."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from authgate.config.sections import GrantType, Section

# Scopes only an operator may give a client (the CLI, the administration API).
RESERVED_SCOPES = frozenset({"authgate:admin", "authgate:portal"})


class PortalSettings(Section):
    enabled: bool = Field(default=True, description="serve the developer portal at /portal")
    signup: Literal["open", "closed"] = Field(
        default="closed",
        description='"open": anyone may create a Local User Store account at /portal/signup',
    )
    grant_types: tuple[GrantType, ...] = Field(
        default=("authorization_code", "refresh_token", "client_credentials"),
        description="the grant types a developer may give an application's keys",
    )
    scopes: tuple[str, ...] = Field(
        default=(),
        description="the scopes an application may ask for; empty: any scope not reserved",
    )

    @field_validator("scopes")
    @classmethod
    def _not_reserved(cls, scopes: tuple[str, ...]) -> tuple[str, ...]:
        reserved = RESERVED_SCOPES.intersection(scopes)
        if reserved:
            raise ValueError(f"{sorted(reserved)[0]} is reserved to operators")
        return scopes
