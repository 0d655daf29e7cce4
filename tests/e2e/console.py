"""Test kit for the manager console: an administrator's browser (httpx with its cookies)
that reads each form's CSRF token and posts forms as the pages do."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from html import unescape

import httpx

from tests.e2e.server import RunningServer

ADMIN, PASSWORD = "root", "correct horse battery staple"


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]*)"', html)
    assert match, html
    return match.group(1)


class Console:
    """One logged-in administrator."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http
        self.csrf_token = ""

    def get(self, path: str, **params: str) -> httpx.Response:
        answer = self.http.get(path, params=params or None)
        if 'name="csrf_token"' in answer.text:
            self.csrf_token = csrf_of(answer.text)
        return answer

    def post(
        self, path: str, data: Mapping[str, str | list[str]], **headers: str
    ) -> httpx.Response:
        """A form post with this session's CSRF token (unless `data` brings its own)."""
        return self.http.post(path, data={"csrf_token": self.csrf_token, **data}, headers=headers)


@contextmanager
def console(
    server: RunningServer, admin: str = ADMIN, password: str = PASSWORD
) -> Iterator[Console]:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        page = http.get("/manager/login")
        answer = http.post(
            "/manager/login",
            data={"csrf_token": csrf_of(page.text), "username": admin, "password": password},
        )
        assert answer.status_code == 303, answer.text
        session = Console(http)
        session.get("/manager")
        yield session


def text_of(html: str) -> str:
    """The page's text, tags removed, entities decoded: what a reader sees."""
    return unescape(re.sub(r"<[^>]+>", " ", html))


def field_error(html: str, field: str) -> str:
    """The error message tied to the input `field` through aria-describedby, or ''."""
    control = re.search(rf'<(?:input|textarea)[^>]*name="{field}"[^>]*>', html)
    if control is None or 'aria-invalid="true"' not in control.group(0):
        fieldset = re.search(rf'<fieldset[^>]*aria-describedby="[^"]*e-{field}"', html)
        if fieldset is None:
            return ""
    elif f"e-{field}" not in control.group(0):
        return ""
    message = re.search(rf'<p class="field-error" id="e-{field}">([^<]*)</p>', html)
    return unescape(message.group(1)) if message else ""
