"""One flow per grant_type, found by a dict lookup, and the authorization request's flow.

Each flow's scope rule (and its policy, imported once) is built here at start.
"""

from __future__ import annotations

from authgate.config import GrantType, Settings
from authgate.flows.authorization_code import AuthorizationCodeFlow
from authgate.flows.authorization_request import AuthorizationRequestFlow
from authgate.flows.base import Flow, TokenRequest
from authgate.flows.client_credentials import ClientCredentialsFlow
from authgate.flows.password import PasswordFlow
from authgate.flows.refresh_token import RefreshTokenFlow
from authgate.policies import load_policy
from authgate.scopes import ScopeResolver
from authgate.services import Services

__all__ = [
    "AuthorizationRequestFlow",
    "Flow",
    "TokenRequest",
    "build_authorization_request",
    "build_flows",
]


def _scope_resolver(settings: Settings, grant_type: GrantType) -> ScopeResolver:
    flow = settings.flow(grant_type)
    policy = None
    if flow.scopes == "policy":
        policy = load_policy(flow.scopes_policy, f"flows.{grant_type}.scopes_policy")
    return ScopeResolver(flow, policy)


def build_flows(services: Services) -> dict[str, Flow]:
    """The token endpoint's flows, by grant_type."""
    settings = services.settings
    flows: list[Flow] = [
        AuthorizationCodeFlow(
            services.codes,
            services.tokens,
            settings.token_settings("authorization_code"),
            services.events,
            signer=services.oidc,
        ),
        ClientCredentialsFlow(
            services.tokens,
            settings.token_settings("client_credentials"),
            _scope_resolver(settings, "client_credentials"),
            services.events,
            signer=services.oidc,
        ),
        RefreshTokenFlow(
            services.tokens,
            settings.token_settings("refresh_token"),
            _scope_resolver(settings, "refresh_token"),
            services.events,
            signer=services.oidc,
        ),
        PasswordFlow(
            services.tokens,
            settings.token_settings("password"),
            _scope_resolver(settings, "password"),
            services.authentication.authenticate,
            services.events,
            signer=services.oidc,
        ),
    ]
    return {flow.grant_type: flow for flow in flows}


def build_authorization_request(services: Services) -> AuthorizationRequestFlow:
    """The authorization endpoint's flow; its scopes follow `[flows.authorization_code]`."""
    return AuthorizationRequestFlow(
        issuer=services.issuer,
        settings=services.settings.authorization_code,
        scopes=_scope_resolver(services.settings, "authorization_code"),
        codes=services.codes,
        find_client=services.clients.get,
        consents=services.registry.consents,
        events=services.events,
    )
