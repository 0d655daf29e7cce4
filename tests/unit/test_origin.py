"""The one origin check of the pages' form posts (login, consent, manager)."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from authgate.pages.origin import is_same_origin

ISSUER = "https://login.example"


def post(headers: dict[str, str], *, scheme: str = "https") -> Request:
    raw = [(name.lower().encode(), value.encode()) for name, value in headers.items()]
    return Request(
        {
            "type": "http",
            "method": "POST",
            "scheme": scheme,
            "path": "/",
            "query_string": b"",
            "headers": raw,
            "server": ("login.example", 443),
        }
    )


@pytest.mark.parametrize(
    "site", ["cross-site", "Cross-Site", "CROSS-SITE", "same-site", "none", " cross-site "]
)
def test_fetch_metadata_other_than_same_origin_is_refused(site):
    assert not is_same_origin(post({"Sec-Fetch-Site": site, "Origin": ISSUER}), ISSUER)


@pytest.mark.parametrize("site", ["same-origin", "Same-Origin", "SAME-ORIGIN"])
def test_fetch_metadata_same_origin_in_any_case_is_ours(site):
    assert is_same_origin(post({"Sec-Fetch-Site": site}), ISSUER)


@pytest.mark.parametrize(
    "origin", [ISSUER, "HTTPS://Login.Example", "https://login.example:443", "null", "Null"]
)
def test_our_origin_or_a_null_one_passes(origin):
    # `null`: pages send no referrer, and browsers then post `Origin: null` for our own forms.
    assert is_same_origin(post({"Origin": origin}), ISSUER)


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "http://login.example",
        "https://login.example:8443",
        "https://login.example.evil",
        "login.example",
        "https://[bad",
    ],
)
def test_a_foreign_or_malformed_origin_is_refused(origin):
    assert not is_same_origin(post({"Origin": origin}), ISSUER)


def test_the_host_the_browser_used_is_ours_too():
    # Reached as http://127.0.0.1:8080 while the issuer names another host (a proxy, a test).
    request = post({"Origin": "http://127.0.0.1:8080", "Host": "127.0.0.1:8080"}, scheme="http")
    assert is_same_origin(request, ISSUER)
    assert not is_same_origin(
        post({"Origin": "http://127.0.0.1:9999", "Host": "127.0.0.1:8080"}, scheme="http"), ISSUER
    )


def test_a_post_without_either_header_is_left_to_the_csrf_token():
    assert is_same_origin(post({}), ISSUER)
