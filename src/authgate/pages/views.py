"""Rendering the HTML pages, with the headers every page and browser redirect carries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.responses import HTMLResponse, Response

PAGES = Path(__file__).parent
STATIC_DIR = PAGES / "static"

_templates = Environment(
    loader=FileSystemLoader(PAGES / "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

# Pages cannot be framed (clickjacking), leak no URL to other sites and run no script.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
}

# A redirect carries the code in its Location: never cached, never sent on as a Referer.
REDIRECT_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
}


def render(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = _templates.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)


def error_page(status: int, title: str, message: str) -> HTMLResponse:
    return render("error.html", status, title=title, message=message)


def redirect(location: str, status: int = 302) -> Response:
    return Response(status_code=status, headers=REDIRECT_HEADERS | {"Location": location})
