"""The authorization endpoint's side of the authorization code grant.

RFC 6749 section 4.1.1-4.1.2, RFC 7636 PKCE and RFC 9207 `iss`: which client and redirect URI
to answer, the request's checks, its scopes, the consent decision and the code. It takes
parsed parameters and returns data; the endpoint parses, keeps sessions and renders.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal, Protocol
from urllib.parse import urlencode, urlsplit

from authgate.config import AuthorizationCodeSettings
from authgate.errors import OAuthError
from authgate.events import Events
from authgate.flows.openid_request import parse_openid_parameters
from authgate.flows.pkce import check_challenge
from authgate.forms import Form
from authgate.models import Client, TokenRecord
from authgate.scopes import ScopeResolver, parse_scope
from authgate.stores import TokenStore
from authgate.tokens import digest, generate_token, new_grant_id, now

PENDING_TTL = 30 * 60  # seconds an authorization request waits for login and consent
# A pending request is kept in the browser's session before anyone logs in: its parts that
# the client chooses freely are bounded, so an unauthenticated request stores a bounded row.
MAX_STATE = 1024  # characters of `state` (flows/openid_request.py bounds `nonce` alike)
MAX_SCOPE = 4096  # characters of `scope`
REQUEST_ID_LENGTH = 22

Decision = Literal["approve_once", "approve_always", "deny"]
DECISIONS: tuple[Decision, ...] = ("approve_once", "approve_always", "deny")

ClientLookup = Callable[[str], Awaitable[Client | None]]


def as_decision(value: str | None) -> Decision | None:
    """The consent form's `decision` button, or None for any other value."""
    return next((decision for decision in DECISIONS if decision == value), None)


class Consents(Protocol):
    """The Approve Always grants (the registry)."""

    async def remembered_scopes(self, username: str, client_id: str) -> frozenset[str]: ...

    async def remember_consent(
        self, username: str, client_id: str, scopes: Iterable[str]
    ) -> None: ...


class UntrustedRequest(Exception):
    """The client or its redirect URI is not verified, so the answer is a page and never a
    redirect (RFC 6749 section 4.1.2.1)."""

    def __init__(self, title: str, message: str) -> None:
        super().__init__(message)
        self.title = title
        self.message = message


@dataclass(frozen=True, slots=True)
class RedirectTarget:
    """A verified client and the redirect URI its answers go to."""

    client: Client
    redirect_uri: str
    redirect_uri_given: bool  # False: omitted, so the token request omits it too


@dataclass(frozen=True, slots=True)
class PendingRequest:
    """A checked authorization request, waiting for login and consent."""

    request_id: str
    client_id: str
    redirect_uri: str
    redirect_uri_given: bool
    state: str | None
    requested: tuple[str, ...]
    scopes: tuple[str, ...] | None  # None until a scope policy has seen the user
    code_challenge: str | None
    created_at: int
    # OpenID Connect: the nonce goes with the code into the id token; prompt and max_age say
    # when the login page or the consent page must be shown.
    nonce: str | None = None
    prompt: tuple[str, ...] = ()
    max_age: int | None = None

    def is_expired(self, at: int) -> bool:
        return self.created_at + PENDING_TTL <= at

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PendingRequest:
        scopes = data.get("scopes")
        return cls(
            **(
                data
                | {
                    "requested": tuple(data["requested"]),
                    "prompt": tuple(data.get("prompt", ())),
                    "scopes": None if scopes is None else tuple(scopes),
                }
            )
        )


@dataclass(frozen=True, slots=True)
class ClientRedirect:
    """An answer at the client's redirect URI: a code or an error, with `state` and `iss`."""

    redirect_uri: str
    params: dict[str, str]

    @property
    def location(self) -> str:
        """RFC 6749 section 3.1.2: a query component of the registered URI is kept."""
        separator = "&" if urlsplit(self.redirect_uri).query else "?"
        if self.redirect_uri.endswith(("?", "&")):
            separator = ""
        return self.redirect_uri + separator + urlencode(self.params)


class AuthorizationRequestFlow:
    """RFC 6749 section 4.1.1-4.1.2, with RFC 7636 PKCE and RFC 9207 `iss`."""

    def __init__(
        self,
        *,
        issuer: str,
        settings: AuthorizationCodeSettings,
        scopes: ScopeResolver,
        codes: TokenStore,
        find_client: ClientLookup,
        consents: Consents,
        events: Events,
    ) -> None:
        self.issuer = issuer
        self.settings = settings
        self.scopes = scopes
        self.codes = codes
        self.find_client = find_client
        self.consents = consents
        self.events = events

    async def target(self, form: Form) -> RedirectTarget:
        """The client and the redirect URI to answer at; UntrustedRequest until both are."""
        if {"client_id", "redirect_uri"} & form.repeated:
            raise UntrustedRequest("Invalid request", "The client_id or redirect_uri is repeated.")
        client_id = form.get("client_id")
        if client_id is None:
            raise UntrustedRequest("Invalid request", "The request names no client (client_id).")
        client = await self.find_client(client_id)
        if client is None:
            raise UntrustedRequest(
                "Unknown application", "No application is registered as this client_id."
            )
        redirect_uri = form.get("redirect_uri")
        if redirect_uri is None:
            # RFC 6749 section 3.1.2.3: may be omitted only when exactly one is registered.
            if len(client.redirect_uris) != 1:
                raise UntrustedRequest("Invalid request", "The request must name a redirect_uri.")
            return RedirectTarget(client, client.redirect_uris[0], redirect_uri_given=False)
        if redirect_uri not in client.redirect_uris:  # exact match, RFC 9700 section 4.1.3
            raise UntrustedRequest(
                "Invalid redirect URI", "The redirect_uri is not registered for this application."
            )
        return RedirectTarget(client, redirect_uri, redirect_uri_given=True)

    async def check(self, target: RedirectTarget, form: Form) -> PendingRequest:
        """RFC 6749 section 4.1.1 and RFC 7636 section 4.3; an OAuthError is redirected."""
        client = target.client
        form.reject_repeated(
            ("response_type", "scope", "state", "code_challenge", "code_challenge_method")
        )
        if len(form.get("state") or "") > MAX_STATE:
            raise OAuthError("invalid_request", f"state is longer than {MAX_STATE} characters")
        if len(form.get("scope") or "") > MAX_SCOPE:
            raise OAuthError("invalid_scope", f"scope is longer than {MAX_SCOPE} characters")
        response_type = form.get("response_type")
        if response_type is None:
            raise OAuthError("invalid_request", "response_type is required")
        if response_type != "code":
            raise OAuthError("unsupported_response_type", "only response_type=code is supported")
        if not client.allows_grant("authorization_code"):
            raise OAuthError("unauthorized_client", "client may not use authorization_code")
        challenge = form.get("code_challenge")
        check_challenge(
            challenge,
            form.get("code_challenge_method"),
            required=client.is_public or self.settings.pkce == "always",
        )
        openid = parse_openid_parameters(form)
        requested = parse_scope(form.get("scope"))
        scopes: tuple[str, ...] | None = None
        if not self._scopes_need_the_user:
            scopes = await self.scopes.resolve(requested, client, _attributes(client))
        return PendingRequest(
            request_id=generate_token(REQUEST_ID_LENGTH),
            client_id=client.client_id,
            redirect_uri=target.redirect_uri,
            redirect_uri_given=target.redirect_uri_given,
            state=form.get("state"),
            requested=requested,
            scopes=scopes,
            code_challenge=challenge,
            created_at=now(),
            nonce=openid.nonce,
            prompt=openid.prompt,
            max_age=openid.max_age,
        )

    @property
    def _scopes_need_the_user(self) -> bool:
        """A scope policy is asked once the user is known; `any` and `all` answer at once."""
        return self.scopes.settings.scopes == "policy"

    async def resolve_scopes(
        self, pending: PendingRequest, client: Client, username: str
    ) -> PendingRequest:
        """The request with its scopes, once a user has logged in."""
        if pending.scopes is not None:
            return pending
        scopes = await self.scopes.resolve(
            pending.requested, client, _attributes(client), username=username
        )
        return replace(pending, scopes=scopes)

    async def is_remembered(self, pending: PendingRequest, username: str) -> bool:
        """Approve Always: the user granted this client these scopes (or more) before."""
        remembered = await self.consents.remembered_scopes(username, pending.client_id)
        return bool(remembered) and set(_resolved(pending)) <= remembered

    async def decide(
        self,
        pending: PendingRequest,
        decision: Decision,
        *,
        username: str,
        subject: str,
        auth_time: int | None = None,
    ) -> ClientRedirect:
        """The user's answer to the consent form."""
        if decision == "deny":
            self.events.emit("consent.denied", client_id=pending.client_id, username=username)
            denied = OAuthError("access_denied", "the resource owner denied the request")
            return self.error(pending.redirect_uri, pending.state, denied)
        scopes = _resolved(pending)
        if decision == "approve_always":
            await self.consents.remember_consent(username, pending.client_id, scopes)
        self.events.emit(
            "consent.granted",
            client_id=pending.client_id,
            username=username,
            scopes=scopes,
            remembered=decision == "approve_always",
        )
        return await self.issue_code(
            pending, username=username, subject=subject, auth_time=auth_time
        )

    async def issue_code(
        self,
        pending: PendingRequest,
        *,
        username: str,
        subject: str,
        auth_time: int | None = None,
    ) -> ClientRedirect:
        """RFC 6749 section 4.1.2: a single-use code bound to the client, the redirect URI
        and the PKCE challenge, stored by its digest only."""
        scopes = _resolved(pending)
        code = generate_token(self.settings.code_length)
        issued_at = now()
        record = TokenRecord(
            kind="authorization_code",
            client_id=pending.client_id,
            grant_id=new_grant_id(),
            scopes=scopes,
            issued_at=issued_at,
            expires_at=issued_at + self.settings.code_expiry,
            subject=subject,
            username=username,
            redirect_uri=pending.redirect_uri if pending.redirect_uri_given else None,
            code_challenge=pending.code_challenge,
            auth_time=auth_time,
            nonce=pending.nonce,
        )
        await self.codes.put([(digest(code), record)])
        self.events.emit("code.issued", client_id=pending.client_id, subject=subject, scopes=scopes)
        return self._redirect(pending.redirect_uri, pending.state, {"code": code})

    def error(self, redirect_uri: str, state: str | None, exc: OAuthError) -> ClientRedirect:
        """RFC 6749 section 4.1.2.1: an error at a verified redirect URI."""
        params: dict[str, str] = {"error": exc.code}
        if exc.description:
            params["error_description"] = exc.description
        return self._redirect(redirect_uri, state, params)

    def _redirect(
        self, redirect_uri: str, state: str | None, params: dict[str, str]
    ) -> ClientRedirect:
        if state is not None:
            params["state"] = state
        params["iss"] = self.issuer  # RFC 9207: the client can tell which server answered
        return ClientRedirect(redirect_uri, params)


def _attributes(client: Client) -> dict[str, Any]:
    """The request attributes a scope policy sees at the authorization endpoint."""
    return {"oauth.client.id": client.client_id}


def _resolved(pending: PendingRequest) -> tuple[str, ...]:
    if pending.scopes is None:
        raise ValueError("the request's scopes are resolved once the user is known")
    return pending.scopes
