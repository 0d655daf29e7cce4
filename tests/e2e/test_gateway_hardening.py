"""SPEC.md Hardening, the gateway part: what a request can no longer smuggle past the proxy."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e import raw_http
from tests.e2e.server import RunningServer, run_server
from tests.e2e.upstream import Upstream, bearer, issue

# Paths in normal form only: matched on the decoded path, each of these was forwarded raw.

TRAVERSALS = [
    b"/api/photos/../videos/1",
    b"/api/photos/./1",
    b"/api/photos/..",
    b"/api/photos/%2e%2e/videos/1",
    b"/api/photos/%2E%2e/videos/1",
    b"/api/photos/.%2E/videos/1",
    b"/api/photos/%2e/1",
    b"/api/photos/..%2fvideos/1",
    b"/api/photos/..%2Fvideos/1",
    b"/api/photos/..%5cvideos/1",
    b"/api/photos/..%5Cvideos/1",
    b"/api/photos//1",
    b"/api/photos/1%00.json",
]


@pytest.mark.parametrize("path", TRAVERSALS, ids=[p.decode() for p in TRAVERSALS])
def test_path_not_in_normal_form_is_400_and_never_forwarded(gw, upstream, path):
    token = issue(gw, scopes=("photos.read", "videos.read"))
    before = len(upstream.calls)
    answer = raw_http.request(gw.url, "GET", path, bearer(token))
    assert answer.status == 400
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["cache-control"] == "no-store"
    assert json.loads(answer.body)["error"] == "invalid_request"
    assert len(upstream.calls) == before


def test_path_not_in_normal_form_is_refused_with_a_body_too(gw, upstream):
    before = len(upstream.calls)
    answer = raw_http.request(
        gw.url, "POST", b"/api/photos/%2e%2e/x", bearer(issue(gw)), body=b"a=1"
    )
    assert answer.status == 400
    assert len(upstream.calls) == before


def test_a_literal_nul_never_reaches_the_upstream(gw, upstream):
    before = len(upstream.calls)
    answer = raw_http.request(gw.url, "GET", b"/api/photos/a\x00b", bearer(issue(gw)))
    assert answer.status == 400
    assert len(upstream.calls) == before


def test_paths_in_normal_form_still_pass(gw, upstream):
    token = issue(gw)
    for path in (b"/api/photos/...", b"/api/photos/a.b/c..d", b"/api/photos/%41%20b/"):
        answer = raw_http.request(gw.url, "GET", path, bearer(token))
        assert answer.status == 200, path
        assert json.loads(answer.body)["raw_path"] == path.decode()


def test_authgate_own_paths_are_refused_alike(gw):
    assert raw_http.request(gw.url, "GET", b"/static/../healthz").status == 400
    assert httpx.get(f"{gw.url}/healthz").status_code == 200


# Identity headers come only from the token, whatever the client's spelling of their names.


def _received(answer: httpx.Response) -> list[tuple[str, str]]:
    return [(name.lower(), value) for name, value in answer.json()["headers"]]


def test_identity_headers_spelt_with_underscores_are_dropped(gw):
    token = issue(gw, subject="alice", client_id="app", metadata={"Department": "Eng"})
    spoofed = [
        ("X_Authgate_Subject", "root"),
        ("x_authgate-client_id", "evil"),
        ("X-AUTHGATE_Meta_Department", "Sales"),
        ("X_AUTHGATE_ADMIN", "true"),
        ("X_Custom_Header", "kept"),
    ]
    answer = httpx.get(f"{gw.url}/api/photos", headers=[*bearer(token).items(), *spoofed])
    assert answer.status_code == 200
    received = _received(answer)
    identity = [(n, v) for n, v in received if n.replace("_", "-").startswith("x-authgate-")]
    assert sorted(identity) == [
        ("x-authgate-client-id", "app"),
        ("x-authgate-meta-department", "Eng"),
        ("x-authgate-scope", "photos.read"),
        ("x-authgate-subject", "alice"),
    ]
    assert ("x_custom_header", "kept") in received


def test_underscored_headers_of_a_route_own_prefix_are_dropped(gw):
    token = issue(gw, scopes=(), subject="carol")
    answer = httpx.get(
        f"{gw.url}/api/strip/x", headers=[*bearer(token).items(), ("X_GW_Subject", "mallory")]
    )
    received = _received(answer)
    assert [v for n, v in received if n.replace("_", "-") == "x-gw-subject"] == ["carol"]


# authgate's own cookies stay between the browser and authgate; proxied answers are sandboxed.

OWN_COOKIES = [
    "authgate_session",
    "__Host-authgate_session",
    "authgate_manager",
    "__Host-authgate_manager",
    "playground_flow",
    "portal_try_it",
    "authgate_session_login",
    "__Host-authgate_session_login",
    "authgate_manager_login",
]


def _cookie_headers(received: list[tuple[str, str]]) -> list[str]:
    return [value for name, value in received if name == "cookie"]


def test_upstream_never_receives_authgate_cookies(gw):
    mixed = "; ".join([f"{name}=secret{i}" for i, name in enumerate(OWN_COOKIES)])
    answer = raw_http.request(
        gw.url,
        "GET",
        b"/api/photos",
        bearer(issue(gw)) | {"Cookie": f"theme=dark; {mixed}; lang=en; authgate_sessionx=1"},
    )
    received = [(n.lower(), v) for n, v in json.loads(answer.body)["headers"]]
    assert _cookie_headers(received) == ["theme=dark; lang=en; authgate_sessionx=1"]
    only_ours = raw_http.request(
        gw.url, "GET", b"/api/photos", bearer(issue(gw)) | {"Cookie": mixed}
    )
    assert "secret" not in only_ours.body.decode()
    received = [(n.lower(), v) for n, v in json.loads(only_ours.body)["headers"]]
    assert _cookie_headers(received) == []


def test_other_cookies_pass_unchanged(gw):
    cookie = 'a=1;b=2;  c="x y"'
    answer = raw_http.request(gw.url, "GET", b"/api/photos", bearer(issue(gw)) | {"Cookie": cookie})
    received = [(n.lower(), v) for n, v in json.loads(answer.body)["headers"]]
    assert _cookie_headers(received) == [cookie]


def test_upstream_set_cookie_for_authgate_names_is_dropped(gw):
    cookies = [f"{name}=planted; Path=/" for name in OWN_COOKIES] + [
        "theme=dark; Path=/api/photos; HttpOnly",
        "authgate_session_x=1",
    ]
    answer = httpx.get(
        f"{gw.url}/api/photos",
        params=[("set_cookie", cookie) for cookie in cookies],  # the upstream sets them
        headers=bearer(issue(gw)),
    )
    assert answer.status_code == 200
    assert answer.headers.get_list("set-cookie") == [
        "theme=dark; Path=/api/photos; HttpOnly",
        "authgate_session_x=1",
    ]


def test_proxied_answers_are_sandboxed(gw):
    answer = httpx.get(f"{gw.url}/api/photos?status=404", headers=bearer(issue(gw)))
    assert answer.status_code == 404
    assert answer.headers.get_list("content-security-policy") == ["sandbox"]


def test_a_route_may_opt_out_of_the_sandbox(gw):
    answer = httpx.get(f"{gw.url}/api/open", headers=bearer(issue(gw, scopes=())))
    assert answer.status_code == 200
    assert "content-security-policy" not in answer.headers


# The bearer token is checked before any of the body is read.


def _send_head_only(gw, content_type: str, token: str | None = None) -> raw_http.RawAnswer:
    """Headers announcing a large body that never comes: the answer must not wait for it."""
    head = (
        f"POST /api/photos HTTP/1.1\r\nHost: gw\r\nContent-Type: {content_type}\r\n"
        "Content-Length: 1000000\r\n"
    )
    if token is not None:
        head += f"Authorization: Bearer {token}\r\n"
    with raw_http.connect(gw.url, timeout=3) as sock:
        sock.sendall(head.encode() + b"\r\n")
        started = time.monotonic()
        answer = raw_http.read_one_answer(sock)
        assert time.monotonic() - started < 1
        return answer


def test_no_token_is_401_before_the_body_is_read(gw, upstream):
    before = len(upstream.calls)
    answer = _send_head_only(gw, "application/octet-stream")
    assert answer.status == 401
    assert answer.headers["www-authenticate"] == 'Bearer realm="authgate"'
    assert len(upstream.calls) == before


def test_a_form_without_token_header_is_400_before_the_body_is_read(gw, upstream):
    # A form could carry `access_token` (refused with 400); it is refused on its type alone.
    before = len(upstream.calls)
    answer = _send_head_only(gw, "application/x-www-form-urlencoded; charset=UTF-8")
    assert answer.status == 400
    assert json.loads(answer.body)["error"] == "invalid_request"
    assert len(upstream.calls) == before


@pytest.mark.parametrize("case", ["unknown", "no scope"])
def test_a_bad_token_is_refused_before_a_form_body_is_read(gw, upstream, case):
    token = issue(gw, scopes=()) if case == "no scope" else "unknown0token"
    answer = _send_head_only(gw, "application/x-www-form-urlencoded", token)
    assert answer.status == (403 if case == "no scope" else 401)


# The longest path wins whatever the order of the routes (issue 11, finding 1).


@pytest.fixture(scope="module")
def nested_gw(
    tmp_path_factory: pytest.TempPathFactory, upstream: Upstream
) -> Iterator[RunningServer]:
    table = [  # the shorter path first: the order in which it was once matched first
        {"path": "/api", "upstream": upstream.url, "scopes": ["read"], "service": "read"},
        {"path": "/api/admin", "upstream": upstream.url, "scopes": ["admin"], "service": "admin"},
    ]
    config = {"gateway.routes": json.dumps(table)}
    with run_server(tmp_path_factory.mktemp("nested"), config) as server:
        yield server


def test_a_read_token_does_not_reach_a_longer_admin_route(nested_gw, upstream):
    before = len(upstream.calls)
    read = bearer(issue(nested_gw, scopes=("read",)))
    answer = httpx.get(f"{nested_gw.url}/api/admin/users", headers=read)
    assert answer.status_code == 403
    assert answer.json()["error"] == "insufficient_scope"
    assert len(upstream.calls) == before
    assert httpx.get(f"{nested_gw.url}/api/adminx", headers=read).status_code == 200
    admin = bearer(issue(nested_gw, scopes=("admin",)))
    answer = httpx.get(f"{nested_gw.url}/api/admin/users", headers=admin)
    assert answer.json()["raw_path"] == "/api/admin/users"
