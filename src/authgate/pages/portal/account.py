"""`/account`: a signed-in user's approved applications (Approve Always), each with Revoke.

Revoke is operations.consents.withdraw_consent, as `DELETE /users/{username}/consents/
{client_id}`: the consent goes, so the next authorization asks again, and every token of
that client for this user is revoked.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from authgate.operations import NotFound, OperationError, consents
from authgate.pages.console.base import PostedForm, format_time, services_of
from authgate.pages.portal.base import action_route, back_to, caller_of, notice_of, page, view_route
from authgate.pages.sessions import BrowserSession


async def account(request: Request, user: BrowserSession) -> Response:
    services = services_of(request)
    try:
        granted = await consents.list_consents(services, user.username or "")
    except NotFound:  # a user of another repository who approved nothing yet
        granted = []
    approved = []
    for consent in granted:
        client = await services.clients.get(consent.client_id)
        approved.append((consent, client.name if client else consent.client_id))
    return page(
        "account.html",
        user,
        approved=approved,
        notice=notice_of(request),
        format_time=format_time,
        section="account",
    )


async def revoke(request: Request, user: BrowserSession, form: PostedForm) -> Response:
    services = services_of(request)
    try:
        await consents.withdraw_consent(
            services, caller_of(user), user.username or "", form.text("client_id")
        )
    except OperationError:
        pass  # already gone: the page shows what is left
    return back_to("/account", "revoked")


def account_routes() -> list[Route]:
    return [view_route("/account", account), action_route("/account/revoke", revoke)]
