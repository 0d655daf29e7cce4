"""A form-following browser for the authorization endpoint: httpx with a cookie jar."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx


@dataclass
class Form:
    method: str = "get"
    action: str = ""
    fields: dict[str, str] = field(default_factory=dict)  # hidden and text inputs
    buttons: dict[str, list[str]] = field(default_factory=dict)  # submit name -> values


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(Form(a.get("method", "get").lower(), a.get("action", "")))
        elif tag in ("input", "button") and self.forms and a.get("name"):
            form = self.forms[-1]
            if a.get("type", "submit" if tag == "button" else "text") == "submit":
                form.buttons.setdefault(a["name"], []).append(a.get("value", ""))
            else:
                form.fields[a["name"]] = a.get("value", "")


def forms(html: str) -> list[Form]:
    parser = _Forms()
    parser.feed(html)
    return parser.forms


def only_form(response: httpx.Response) -> Form:
    found = [f for f in forms(response.text) if f.method == "post"]
    assert len(found) == 1, response.text
    return found[0]


def redirect_params(response: httpx.Response) -> dict[str, str]:
    assert response.status_code in (302, 303), (response.status_code, response.text)
    query = parse_qs(urlsplit(response.headers["location"]).query, keep_blank_values=True)
    return {k: v[0] for k, v in query.items()}


class Browser:
    """One user-agent: its own cookies, following the login and consent forms by hand."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, follow_redirects=False, timeout=30)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def authorize(self, **params: Any) -> httpx.Response:
        return self.http.get("/oauth2/authorize", params=params)

    def get(self, url: str) -> httpx.Response:
        return self.http.get(url)

    def submit(
        self,
        page: httpx.Response,
        extra: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        form = only_form(page)
        data = dict(form.fields) | (extra or {})
        return self.http.post(
            form.action or "/oauth2/authorize",
            data=data,
            headers={"Origin": self.base_url} | (headers or {}),
        )

    def login(self, page: httpx.Response, username: str, password: str) -> httpx.Response:
        assert "password" in only_form(page).fields, page.text
        return self.submit(page, {"username": username, "password": password})

    def decide(self, page: httpx.Response, decision: str) -> httpx.Response:
        assert decision in only_form(page).buttons.get("decision", []), page.text
        return self.submit(page, {"decision": decision})

    @property
    def session_cookie(self) -> str | None:
        return self.http.cookies.get("authgate_session")
