"""Rendering every HTML page (login, consent, playground, manager) with one set of headers."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.responses import HTMLResponse, JSONResponse, Response

if TYPE_CHECKING:
    from jinja2 import Environment

PAGES = Path(__file__).parent
STATIC_DIR = PAGES / "static"


@functools.cache
def _templates() -> Environment:
    """Both template folders: `login.html` for the authorization pages, `manager/...` for the
    manager."""
    # Imported with the first page, not at start: jinja2 costs each process about 1.9 MB, and
    # a server that only answers the token endpoints and the gateway renders no page.
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    return Environment(
        loader=FileSystemLoader(PAGES / "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )


# Every page, redirect and JSON answer of the pages: never framed (clickjacking), no URL leaked
# to other sites as a Referer, no inline script or style, never cached. Gateway routes share
# this origin, hence `'self'` only where a page needs it and `'none'` everywhere else.
# No `form-action`: browsers apply it to the redirect that answers a form, and the consent
# form is answered with a redirect to the client's own redirect URI.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
}


def render(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = _templates().get_template(template).render(**context)
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)


def error_page(status: int, title: str, message: str) -> HTMLResponse:
    return render("error.html", status, title=title, message=message)


def redirect(location: str, status: int = 302) -> Response:
    """A redirect from a page; one to a client carries a code, so it is never cached either."""
    return Response(status_code=status, headers=PAGE_HEADERS | {"Location": location})


def page_json(body: Any, status: int = 200) -> JSONResponse:
    """JSON that a page's own script reads (the manager's live counters)."""
    return JSONResponse(body, status, headers=PAGE_HEADERS)
