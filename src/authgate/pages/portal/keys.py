"""An application's Production and Sandbox keys tabs: generate, change, regenerate, delete.

Generate keys and Regenerate secret answer with the secret itself, shown this once with a
copy button; every other page shows the consumer key only.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from authgate.operations import OperationError, applications, parse
from authgate.pages.console.base import NO_ERROR, FormError, PostedForm, format_time, services_of
from authgate.pages.portal.applications import missing
from authgate.pages.portal.base import action_route, back_to, caller_of, notice_of, page, view_route
from authgate.pages.sessions import BrowserSession
from authgate.services import Services

KEYS = "/portal/applications/{app_id}/keys/{environment}"
TRY_IT_CALLBACK = "/portal/try/callback"


def try_it_callback(services: Services) -> str:
    """The callback URL of Try it, which a sandbox key registers to use it."""
    return services.issuer + TRY_IT_CALLBACK


def _values(form: PostedForm) -> dict[str, Any]:
    return {
        "redirect_uris": form.lines("redirect_uris"),
        "grant_types": form.all("grant_types"),
        "scopes": form.words("scopes"),
    }


async def key_tab(
    request: Request,
    user: BrowserSession,
    error: FormError = NO_ERROR,
    values: dict[str, Any] | None = None,
) -> Response:
    services = services_of(request)
    app_id, environment = request.path_params["app_id"], request.path_params["environment"]
    if environment not in applications.ENVIRONMENTS:
        return await missing(user)
    try:
        app = await applications.get_application(services, caller_of(user), app_id)
    except OperationError:
        return await missing(user)
    key = app.keys[environment]
    shown = values or (
        key.model_dump()
        if key
        else {
            "redirect_uris": [],
            "grant_types": ["authorization_code", "refresh_token"],
            "scopes": [],
        }
    )
    return page(
        "keys.html",
        user,
        error.status,
        app=app,
        tab=environment,
        key=key,
        values=shown,
        error=error,
        grant_types=services.settings.portal.grant_types,
        offered_scopes=services.settings.portal.scopes,
        try_it_callback=try_it_callback(services),
        notice=notice_of(request),
        format_time=format_time,
        section="applications",
    )


async def show_keys(request: Request, user: BrowserSession) -> Response:
    return await key_tab(request, user)


def _secret_page(
    user: BrowserSession,
    app: applications.ApplicationView,
    environment: str,
    client_id: str,
    client_secret: str,
    *,
    regenerated: bool,
) -> Response:
    return page(
        "secret.html",
        user,
        app=app,
        environment=environment,
        client_id=client_id,
        client_secret=client_secret,
        regenerated=regenerated,
        section="applications",
    )


async def generate_keys(request: Request, user: BrowserSession, form: PostedForm) -> Response:
    services, caller = services_of(request), caller_of(user)
    app_id, environment = request.path_params["app_id"], request.path_params["environment"]
    values = _values(form)
    try:
        created = await applications.create_key(
            services, caller, app_id, environment, parse(applications.KeyCreate, values)
        )
        app = await applications.get_application(services, caller, app_id)
    except OperationError as exc:
        error = FormError.of(exc)
        if error.status == 404:
            return await missing(user)
        return await key_tab(request, user, error, values)
    return _secret_page(
        user, app, environment, created.client_id, created.client_secret, regenerated=False
    )


async def save_keys(request: Request, user: BrowserSession, form: PostedForm) -> Response:
    app_id, environment = request.path_params["app_id"], request.path_params["environment"]
    values = _values(form)
    try:
        await applications.update_key(
            services_of(request),
            caller_of(user),
            app_id,
            environment,
            parse(applications.KeyChanges, values),
        )
    except OperationError as exc:
        error = FormError.of(exc)
        if error.status == 404:
            return await missing(user)
        return await key_tab(request, user, error, values)
    return back_to(f"/portal/applications/{app_id}/keys/{environment}", "key-saved")


async def regenerate_secret(request: Request, user: BrowserSession, form: PostedForm) -> Response:
    services, caller = services_of(request), caller_of(user)
    app_id, environment = request.path_params["app_id"], request.path_params["environment"]
    try:
        rotated = await applications.rotate_key_secret(services, caller, app_id, environment)
        app = await applications.get_application(services, caller, app_id)
    except OperationError:
        return await missing(user)
    return _secret_page(
        user, app, environment, rotated.client_id, rotated.client_secret, regenerated=True
    )


async def delete_keys(request: Request, user: BrowserSession, form: PostedForm) -> Response:
    app_id, environment = request.path_params["app_id"], request.path_params["environment"]
    try:
        await applications.delete_key(services_of(request), caller_of(user), app_id, environment)
    except OperationError:
        return await missing(user)
    return back_to(f"/portal/applications/{app_id}/keys/{environment}", "key-deleted")


def key_routes() -> list[Route]:
    return [
        view_route(KEYS, show_keys),
        action_route(KEYS, generate_keys),
        action_route(KEYS + "/save", save_keys),
        action_route(KEYS + "/secret", regenerate_secret),
        action_route(KEYS + "/delete", delete_keys),
    ]
