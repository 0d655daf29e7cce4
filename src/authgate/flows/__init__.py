"""One flow per grant_type, found by a dict lookup."""

from __future__ import annotations

from authgate.config import GrantType
from authgate.flows.authorization_code import AuthorizationCodeFlow
from authgate.flows.base import Flow, TokenRequest
from authgate.flows.client_credentials import ClientCredentialsFlow
from authgate.flows.password import PasswordFlow
from authgate.flows.refresh_token import RefreshTokenFlow
from authgate.policies import load_policy
from authgate.scopes import ScopeResolver
from authgate.services import Services

__all__ = ["Flow", "TokenRequest", "build_flows", "scope_resolver"]


def scope_resolver(services: Services, grant_type: GrantType) -> ScopeResolver:
    flow = services.settings.flow(grant_type)
    policy = None
    if flow.scopes == "policy":
        policy = load_policy(flow.scopes_policy, f"flows.{grant_type}.scopes_policy")
    return ScopeResolver(flow, policy)


def build_flows(services: Services) -> dict[str, Flow]:
    settings = services.settings
    flows: list[Flow] = [
        AuthorizationCodeFlow(
            services.codes,
            services.tokens,
            settings.token_settings("authorization_code"),
            services.events,
        ),
        ClientCredentialsFlow(
            services.tokens,
            settings.token_settings("client_credentials"),
            scope_resolver(services, "client_credentials"),
            services.events,
        ),
        RefreshTokenFlow(
            services.tokens,
            settings.token_settings("refresh_token"),
            scope_resolver(services, "refresh_token"),
            services.events,
        ),
        PasswordFlow(
            services.tokens,
            settings.token_settings("password"),
            scope_resolver(services, "password"),
            services.authentication.authenticate,
            services.events,
        ),
    ]
    return {flow.grant_type: flow for flow in flows}
