"""The developer's applications: the list, create, the overview with its edit form, delete.

Each page translates a form into a request of operations.applications and back; another
developer's application is a 404 page, as in the portal API.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from authgate.operations import OperationError, applications, parse
from authgate.pages.console.base import NO_ERROR, FormError, PostedForm, format_time, services_of
from authgate.pages.portal.base import (
    action_route,
    back_to,
    caller_of,
    notice_of,
    page,
    view_route,
)
from authgate.pages.sessions import BrowserSession


async def application_list(request: Request, user: BrowserSession) -> Response:
    found = await applications.list_applications(services_of(request), user.username)
    return page(
        "applications.html",
        user,
        apps=found,
        notice=notice_of(request),
        format_time=format_time,
        section="applications",
    )


def _new_form(
    user: BrowserSession, error: FormError = NO_ERROR, name: str = "", description: str = ""
) -> Response:
    values = {"name": name, "description": description}
    return page(
        "application_new.html", user, error.status, error=error, values=values, section="new"
    )


async def new_application(request: Request, user: BrowserSession) -> Response:
    return _new_form(user)


async def create_application(request: Request, user: BrowserSession, form: PostedForm) -> Response:
    name, description = form.text("name"), form.text("description")
    try:
        created = await applications.create_application(
            services_of(request),
            caller_of(user),
            parse(applications.ApplicationCreate, {"name": name, "description": description}),
        )
    except OperationError as exc:
        return _new_form(user, FormError.of(exc), name, description)
    return back_to(f"/portal/applications/{created.app_id}", "created")


async def missing(user: BrowserSession) -> Response:
    return page(
        "message.html",
        user,
        404,
        title="No such application",
        text="There is no application of yours at this address.",
        section="applications",
    )


async def overview(
    request: Request, user: BrowserSession, error: FormError = NO_ERROR, **values: str
) -> Response:
    app_id = request.path_params["app_id"]
    try:
        app = await applications.get_application(services_of(request), caller_of(user), app_id)
    except OperationError:
        return await missing(user)
    return page(
        "application.html",
        user,
        error.status,
        app=app,
        tab="overview",
        error=error,
        values={"name": app.name, "description": app.description} | values,
        notice=notice_of(request),
        format_time=format_time,
        section="applications",
    )


async def show_application(request: Request, user: BrowserSession) -> Response:
    return await overview(request, user)


async def update_application(request: Request, user: BrowserSession, form: PostedForm) -> Response:
    app_id = request.path_params["app_id"]
    values = {"name": form.text("name"), "description": form.text("description")}
    try:
        await applications.update_application(
            services_of(request),
            caller_of(user),
            app_id,
            parse(applications.ApplicationChanges, values),
        )
    except OperationError as exc:
        error = FormError.of(exc)
        if error.status == 404:
            return await missing(user)
        return await overview(request, user, error, **values)
    return back_to(f"/portal/applications/{app_id}", "saved")


async def confirm_delete(request: Request, user: BrowserSession) -> Response:
    app_id = request.path_params["app_id"]
    try:
        app = await applications.get_application(services_of(request), caller_of(user), app_id)
    except OperationError:
        return await missing(user)
    return page("confirm.html", user, app=app, section="applications")


async def delete_application(request: Request, user: BrowserSession, form: PostedForm) -> Response:
    app_id = request.path_params["app_id"]
    try:
        await applications.delete_application(services_of(request), caller_of(user), app_id)
    except OperationError:
        return await missing(user)
    return back_to("/portal", "deleted")


def application_routes() -> list[Route]:
    return [
        view_route("/portal", application_list),
        view_route("/portal/applications/new", new_application),
        action_route("/portal/applications", create_application),
        view_route("/portal/applications/{app_id}", show_application),
        action_route("/portal/applications/{app_id}", update_application),
        view_route("/portal/applications/{app_id}/delete", confirm_delete),
        action_route("/portal/applications/{app_id}/delete", delete_application),
    ]
