"""No request, however malformed, gets a 5xx or a traceback (SPEC.md)."""

from __future__ import annotations

import random

import httpx
import pytest

FORM = "application/x-www-form-urlencoded"
ENDPOINTS = ["/oauth2/token", "/oauth2/introspect", "/oauth2/revoke"]


Headers = dict[bytes, bytes]


def malformed_requests(client_id: str, secret: str) -> list[tuple[str, Headers, bytes]]:
    rng = random.Random(6749)
    cases: list[tuple[str, Headers, bytes]] = []
    content_types = [
        FORM,
        f"{FORM};charset=UTF-8",
        "application/json",
        "text/plain",
        "",
        "multipart/form-data; boundary=x",
        f"{FORM}; charset=latin-1",
        "*/*",
    ]
    bodies = [
        b"",
        b"=",
        b"&&&",
        b"grant_type",
        b"grant_type=",
        b"a=%",
        b"a=%zz",
        b"a=%ff%fe",
        b"\xff\xfe\xfd",
        b"grant_type=client_credentials&grant_type=client_credentials",
        b"grant_type=authorization_code&code=&code=",
        b"grant_type=password&username=%00",
        b"token=" + b"x" * 5000,
        b"grant_type=refresh_token&refresh_token=\xc3\x28",
        b'{"grant_type": "client_credentials"}',
        b"a=" + "\u00e9".encode() * 3,
        b"grant_type=client_credentials&scope=" + b"%22%5C" * 20,
        b"x=1;y=2",
        b"&".join(b"p%d=v" % i for i in range(500)),
    ]
    authorizations: list[str | bytes] = [
        "",
        "Basic",
        "Basic ====",
        "Basic \u00e9".encode("latin-1"),
        "Bearer x",
        "Basic Og==",
        "basic " + httpx.BasicAuth(client_id, secret)._auth_header.split()[1],
        httpx.BasicAuth(client_id, "wrong")._auth_header,
        httpx.BasicAuth(client_id, secret)._auth_header,
    ]
    for path in ENDPOINTS:
        for content_type in content_types:
            for body in bodies:
                headers = {b"content-type": content_type.encode()} if content_type else {}
                auth = rng.choice(authorizations)
                if auth:
                    headers[b"authorization"] = auth if isinstance(auth, bytes) else auth.encode()
                cases.append((path, headers, body))
    for _ in range(40):
        length = rng.randint(1, 300)
        body = bytes(rng.randrange(256) for _ in range(length))
        cases.append((rng.choice(ENDPOINTS), {b"content-type": FORM.encode()}, body))
    return cases


def test_hundreds_of_malformed_requests_never_get_a_5xx(server):
    client, secret = server.create_client(
        "fuzz",
        grant_types=["client_credentials", "authorization_code", "refresh_token", "password"],
        redirect_uris=["https://app.example/cb"],
        scopes=["a"],
        can_introspect=True,
    )
    cases = malformed_requests(client.client_id, secret)
    assert len(cases) >= 300
    with httpx.Client(base_url=server.url) as http:
        for path, headers, body in cases:
            answer = http.post(path, headers=headers, content=body)
            assert answer.status_code < 500, (path, headers, body[:80], answer.text)
            if answer.status_code >= 400 and answer.status_code != 404:
                assert answer.headers["content-type"] == "application/json", answer.text
                assert answer.headers["cache-control"] == "no-store"
                assert "error" in answer.json()
                assert "Traceback" not in answer.text


@pytest.mark.parametrize("path", [*ENDPOINTS, "/oauth2/authorize"])
def test_a_one_megabyte_body_is_413(server, path):
    with httpx.Client(base_url=server.url) as http:
        answer = http.post(path, content=b"a=" + b"x" * 1_000_000, headers={"content-type": FORM})
    assert answer.status_code == 413
    assert answer.json()["error"] == "invalid_request"


def test_a_chunked_body_over_64_kib_is_413(server):
    def chunks():
        for _ in range(100):
            yield b"x" * 1024

    with httpx.Client(base_url=server.url) as http:
        answer = http.post("/oauth2/token", content=chunks(), headers={"content-type": FORM})
    assert answer.status_code == 413
    assert answer.json()["error"] == "invalid_request"


def test_error_responses_carry_no_store_and_pragma(server):
    answer = httpx.post(f"{server.url}/oauth2/token", data={"grant_type": "nope"})
    assert answer.status_code == 401
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["pragma"] == "no-cache"
    # only invalid_client via the Authorization header carries WWW-Authenticate
    assert "www-authenticate" not in answer.headers


@pytest.mark.parametrize("path", ENDPOINTS)
def test_other_methods_are_a_json_405(server, path):
    answer = httpx.get(f"{server.url}{path}")
    assert answer.status_code == 405
    assert answer.headers["allow"] == "POST"
    assert answer.headers["cache-control"] == "no-store"
    assert answer.json()["error"] == "invalid_request"
