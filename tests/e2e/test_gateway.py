"""The gateway front over real HTTP: bearer checks (RFC 6750), forwarding, streaming, monitoring."""

from __future__ import annotations

import asyncio
import json
import socketserver
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from authgate.errors import StoreUnavailable
from authgate.tokens import digest, generate_token
from tests.backends import (
    fresh_database,  # noqa: F401 - a fixture, asked for by name
    migrated,
)
from tests.e2e.server import RunningServer, free_port, run_server
from tests.e2e.upstream import Upstream, bearer, flush, issue, routes


def traffic(server: RunningServer, **query: Any) -> list[dict[str, Any]]:
    from authgate.monitoring.traffic import TrafficFilter

    flush(server)
    log = server._app.state.monitor.traffic
    rows: list[dict[str, Any]] = server.run(log.search(TrafficFilter(**query)))
    return rows


def sample(server: RunningServer, name: str, **labels: str) -> float:
    text = httpx.get(f"{server.url}/metrics").text
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return 0.0


def challenge_error(response: httpx.Response) -> str | None:
    header = response.headers["www-authenticate"]
    assert header.startswith('Bearer realm="authgate"')
    if 'error="' not in header:
        return None
    return header.split('error="', 1)[1].split('"', 1)[0]


# RFC 6750 errors


def test_rfc6750_s3_no_token_is_401_with_bare_challenge(gw, upstream):
    before = len(upstream.calls)
    answer = httpx.get(f"{gw.url}/api/photos/1")
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == 'Bearer realm="authgate"'
    assert answer.headers["content-type"] == "application/json"
    assert "error" in answer.json()
    assert len(upstream.calls) == before


def test_rfc6750_s3_other_scheme_is_401_without_error(gw):
    answer = httpx.get(f"{gw.url}/api/photos", auth=("user", "pass"))
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == 'Bearer realm="authgate"'


@pytest.mark.parametrize("with_header", [False, True])
def test_rfc6750_s2_3_token_in_query_is_400(gw, upstream, with_header):
    token = issue(gw)
    before = len(upstream.calls)
    headers = bearer(token) if with_header else {}
    answer = httpx.get(f"{gw.url}/api/photos?access_token={token}", headers=headers)
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_request"
    assert challenge_error(answer) == "invalid_request"
    assert len(upstream.calls) == before


def test_rfc6750_s2_2_token_in_form_body_is_400(gw, upstream):
    token = issue(gw)
    before = len(upstream.calls)
    answer = httpx.post(
        f"{gw.url}/api/photos", data={"x": "1", "access_token": token}, headers=bearer(token)
    )
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_request"
    assert challenge_error(answer) == "invalid_request"
    answer = httpx.post(f"{gw.url}/api/photos", data={"access_token": token})
    assert answer.status_code == 400
    assert len(upstream.calls) == before


@pytest.mark.parametrize("where", ["query", "body"])
@pytest.mark.parametrize(
    "form",
    ["access_token=", "access_token", "x=1&access_token=&x=2", "access_token=&access_token=abc"],
)
def test_rfc6750_s2_token_parameter_is_refused_alike_in_query_and_body(gw, upstream, where, form):
    # The parameter is refused whatever its value: query and body are parsed the same way.
    before = len(upstream.calls)
    headers = bearer(issue(gw))
    if where == "query":
        answer = httpx.get(f"{gw.url}/api/photos?{form}", headers=headers)
    else:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        answer = httpx.post(f"{gw.url}/api/photos", content=form, headers=headers)
    assert answer.status_code == 400
    assert challenge_error(answer) == "invalid_request"
    assert len(upstream.calls) == before


def test_rfc6750_s2_1_malformed_bearer_is_400(gw):
    answer = httpx.get(f"{gw.url}/api/photos", headers={"Authorization": "Bearer a b"})
    assert answer.status_code == 400
    assert challenge_error(answer) == "invalid_request"


@pytest.mark.parametrize("case", ["unknown", "expired", "revoked", "consumed", "refresh"])
def test_rfc6750_s3_1_bad_token_is_401_invalid_token(gw, upstream, case):
    if case == "unknown":
        token = generate_token(54)
    elif case == "expired":
        token = issue(gw, expires_in=-5)
    elif case == "refresh":
        token = issue(gw, kind="refresh_token")
    else:
        token = issue(gw)
        if case == "revoked":
            gw.run(gw.services.tokens.delete(digest(token)))
        else:
            assert gw.run(gw.services.tokens.exchange(digest(token), []))
    before = len(upstream.calls)
    answer = httpx.get(f"{gw.url}/api/photos", headers=bearer(token))
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_token"
    assert challenge_error(answer) == "invalid_token"
    assert answer.headers["cache-control"] == "no-store"
    assert len(upstream.calls) == before


def test_rfc6750_s3_1_missing_scope_is_403_and_upstream_not_called(gw, upstream):
    token = issue(gw, scopes=("videos.read",))
    before = len(upstream.calls)
    answer = httpx.get(f"{gw.url}/api/photos/1", headers=bearer(token))
    assert answer.status_code == 403
    assert answer.json()["error"] == "insufficient_scope"
    assert challenge_error(answer) == "insufficient_scope"
    assert 'scope="photos.read"' in answer.headers["www-authenticate"]
    assert len(upstream.calls) == before


def test_store_down_is_503_temporarily_unavailable(gw):
    class Broken:
        async def get(self, key: str) -> None:
            raise StoreUnavailable("token store")

    token = issue(gw)
    real = gw.services.tokens
    gw.services.tokens = Broken()
    try:
        answer = httpx.get(f"{gw.url}/api/photos", headers=bearer(token))
    finally:
        gw.services.tokens = real
    assert answer.status_code == 503
    assert answer.json()["error"] == "temporarily_unavailable"


# Upstream failures


def test_upstream_refused_is_502_json(gw):
    answer = httpx.get(f"{gw.url}/api/down/x", headers=bearer(issue(gw, scopes=())))
    assert answer.status_code == 502
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["error"] == "bad_gateway"


def test_upstream_timeout_is_504_json(gw):
    started = time.monotonic()
    answer = httpx.get(f"{gw.url}/api/slow/x", headers=bearer(issue(gw, scopes=())))
    assert answer.status_code == 504
    assert answer.json()["error"] == "gateway_timeout"
    assert time.monotonic() - started < 2.5


# Forwarding


def test_path_prefix_matching(gw, upstream):
    token = issue(gw)
    assert (
        httpx.get(f"{gw.url}/api/photos", headers=bearer(token)).json()["raw_path"] == "/api/photos"
    )
    assert (
        httpx.get(f"{gw.url}/api/photos/1/x%20y", headers=bearer(token)).json()["raw_path"]
        == "/api/photos/1/x%20y"
    )
    before = len(upstream.calls)
    assert httpx.get(f"{gw.url}/api/photosx", headers=bearer(token)).status_code == 404
    assert len(upstream.calls) == before


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
def test_method_query_and_body_forwarded_unchanged(gw, method):
    token = issue(gw)
    body = bytes(range(256)) * 40 if method not in ("GET", "DELETE") else b""
    answer = httpx.request(
        method,
        f"{gw.url}/api/photos/items?b=2&a=%20x&a=1&empty=",
        headers=bearer(token),
        content=body or None,
    )
    assert answer.status_code == 200
    seen = answer.json()
    assert seen["method"] == method
    assert seen["query"] == "b=2&a=%20x&a=1&empty="
    assert seen["body_size"] == len(body)
    import hashlib

    assert seen["body_sha256"] == hashlib.sha256(body).hexdigest()


def test_connect_is_refused_not_forwarded_rfc9110_9_3_6(gw, upstream):
    # CONNECT asks a proxy for a tunnel to an authority; a gateway route is a path. Forwarded,
    # the upstream's 200 reads as an open tunnel to the upstream client, and the caller got a
    # 502 (found by the fuzz drill).
    import http.client

    before = len(upstream.calls)
    conn = http.client.HTTPConnection("127.0.0.1", int(gw.url.rsplit(":", 1)[1]), timeout=10)
    try:
        conn.request("CONNECT", "/api/photos/1", headers=bearer(issue(gw)))
        answer = conn.getresponse()
        body = json.loads(answer.read())
    finally:
        conn.close()
    assert answer.status == 405
    assert "CONNECT" not in answer.headers["Allow"]
    assert body["error"] == "invalid_request"
    assert len(upstream.calls) == before


def test_form_body_without_token_is_forwarded(gw):
    answer = httpx.post(f"{gw.url}/api/photos", data={"q": "cats"}, headers=bearer(issue(gw)))
    assert answer.status_code == 200
    assert answer.json()["body_size"] == len("q=cats")


def test_upstream_status_and_headers_come_back(gw):
    answer = httpx.get(f"{gw.url}/api/photos?status=418", headers=bearer(issue(gw)))
    assert answer.status_code == 418
    assert answer.headers["x-upstream"] == "yes"


def test_identity_headers_replace_client_ones(gw):
    token = issue(
        gw,
        subject="alice",
        client_id="photo-app",
        scopes=("photos.read", "extra"),
        metadata={"Department": "Engineering", "Team": "Core"},
    )
    answer = httpx.get(
        f"{gw.url}/api/photos",
        headers=bearer(token)
        | {
            "X-Authgate-Subject": "mallory",
            "x-authgate-meta-Department": "Sales",
            "X-AUTHGATE-Admin": "true",
            "X-Custom": "kept",
            "Connection": "keep-alive, X-Hop",
            "X-Hop": "dropped",
            "Keep-Alive": "timeout=5",
        },
    )
    assert answer.status_code == 200
    headers = answer.json()["headers"]
    names = [name.lower() for name, _ in headers]
    values = {name.lower(): value for name, value in headers}
    assert "authorization" not in names
    assert token not in json.dumps(headers)
    assert names.count("x-authgate-subject") == 1
    assert values["x-authgate-subject"] == "alice"
    assert values["x-authgate-client-id"] == "photo-app"
    assert values["x-authgate-scope"] == "photos.read extra"
    assert values["x-authgate-meta-department"] == "Engineering"
    assert values["x-authgate-meta-team"] == "Core"
    assert "x-authgate-admin" not in names
    assert values["x-custom"] == "kept"
    assert "x-hop" not in names and "keep-alive" not in names
    assert values["x-forwarded-for"] == "127.0.0.1"
    assert values["x-forwarded-proto"] == "http"
    assert values["x-forwarded-host"] == gw.url.removeprefix("http://")


def test_client_token_subject_is_client_id(gw):
    client, secret = gw.create_client(
        "svc", grant_types=["client_credentials"], scopes=["photos.read"]
    )
    token = httpx.post(
        f"{gw.url}/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(client.client_id, secret or ""),
    ).json()["access_token"]
    values = {
        n.lower(): v
        for n, v in httpx.get(f"{gw.url}/api/photos", headers=bearer(token)).json()["headers"]
    }
    assert values["x-authgate-subject"] == client.client_id
    assert values["x-authgate-client-id"] == client.client_id


def test_strip_prefix_and_header_prefix(gw):
    token = issue(gw, scopes=(), subject="carol", metadata={"Tier": "gold"})
    seen = httpx.get(
        f"{gw.url}/api/strip/items/7?x=1", headers=bearer(token) | {"x-gw-subject": "mallory"}
    ).json()
    assert seen["raw_path"] == "/base/items/7"
    assert seen["query"] == "x=1"
    values = {n.lower(): v for n, v in seen["headers"]}
    assert values["x-gw-subject"] == "carol"
    assert values["x-gw-meta-tier"] == "gold"
    assert "x-authgate-subject" not in values
    assert httpx.get(f"{gw.url}/api/strip", headers=bearer(token)).json()["raw_path"] == "/base/"


def _peak_rss_reset() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def _peak_rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_streams_50mb_response_without_buffering(gw):
    # The gateway, the upstream and this client share one process: its peak RSS bounds all
    # three, so a buffered 50 MB body anywhere would show.
    token = issue(gw, scopes=())
    _peak_rss_reset()
    before = _peak_rss_kib()
    received = 0
    with httpx.stream("GET", f"{gw.url}/big?mb=50", headers=bearer(token), timeout=60) as r:
        assert r.status_code == 200
        assert r.headers["content-length"] == str(50 * 1024 * 1024)
        for chunk in r.iter_raw():
            received += len(chunk)
    growth_mib = (_peak_rss_kib() - before) / 1024
    assert received == 50 * 1024 * 1024
    assert growth_mib < 15, f"peak RSS grew by {growth_mib:.1f} MiB"


def test_client_leaving_stops_the_upstream_stream(gw, upstream):
    token = issue(gw, scopes=())
    with httpx.stream("GET", f"{gw.url}/big?mb=1000", headers=bearer(token), timeout=60) as r:
        next(r.iter_raw())
        call = upstream.calls[-1]
    deadline = time.monotonic() + 5
    while not call["left"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert call["left"], "the gateway kept reading after its client left"
    assert call["sent"] < 500 * 1024 * 1024


def test_streams_50mb_request_body_without_buffering(gw):
    token = issue(gw)
    block = b"y" * 65536

    def body() -> Iterator[bytes]:
        for _ in range(800):
            yield block

    _peak_rss_reset()
    before = _peak_rss_kib()
    answer = httpx.post(
        f"{gw.url}/api/photos/upload", headers=bearer(token), content=body(), timeout=60
    )
    growth_mib = (_peak_rss_kib() - before) / 1024
    assert answer.status_code == 200
    assert answer.json()["body_size"] == 800 * 65536
    assert growth_mib < 15, f"peak RSS grew by {growth_mib:.1f} MiB"


# Monitoring


def test_metrics_count_per_service_client_and_outcome(gw):
    name = "authgate_service_requests_total"
    for _ in range(3):
        httpx.get(f"{gw.url}/api/photos", headers=bearer(issue(gw, subject="dora")))
    httpx.get(f"{gw.url}/api/photos", headers=bearer(issue(gw, subject="erin")))
    httpx.get(f"{gw.url}/api/photos", headers=bearer(issue(gw, subject="erin", scopes=())))
    assert sample(gw, name, service="photos", client="dora", outcome="success") == 3
    assert sample(gw, name, service="photos", client="erin", outcome="success") == 1
    assert sample(gw, name, service="photos", client="erin", outcome="failure") == 1
    count = "authgate_service_request_duration_seconds_count"
    assert sample(gw, count, service="photos", client="dora") == 3


def test_metrics_count_token_endpoint_per_grant(gw):
    client, secret = gw.create_client("cc", grant_types=["client_credentials"], scopes=["s"])
    for _ in range(2):
        httpx.post(
            f"{gw.url}/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(client.client_id, secret or ""),
        )
    assert (
        sample(
            gw,
            "authgate_service_requests_total",
            service="oauth2.token.client_credentials",
            client=client.client_id,
            outcome="success",
        )
        == 2
    )
    assert sample(gw, "authgate_events_total", event="token.issued") >= 2


def test_composite_passes_only_if_all_parts_pass(gw):
    name = "authgate_service_requests_total"
    both = issue(gw, subject="frank", scopes=("photos.read", "videos.read"))
    assert httpx.get(f"{gw.url}/api/photos", headers=bearer(both)).status_code == 200
    assert httpx.get(f"{gw.url}/api/videos", headers=bearer(both)).status_code == 200
    assert httpx.get(f"{gw.url}/api/videos?status=500", headers=bearer(both)).status_code == 500
    photos_only = issue(gw, subject="frank", scopes=("photos.read",))
    assert httpx.get(f"{gw.url}/api/videos", headers=bearer(photos_only)).status_code == 403
    assert sample(gw, name, service="media", client="frank", outcome="success") == 2
    assert sample(gw, name, service="media", client="frank", outcome="failure") == 2
    assert sample(gw, name, service="videos", client="frank", outcome="failure") == 2
    assert sample(gw, name, service="photos", client="frank", outcome="success") == 1


def test_traffic_records_transaction_with_outbound_call(gw, upstream):
    token = issue(gw, subject="gina")
    httpx.get(f"{gw.url}/api/photos/42?secret=querystring", headers=bearer(token))
    rows = traffic(gw, client="gina")
    assert len(rows) == 1
    row = rows[0]
    assert (row["service"], row["method"], row["path"], row["status"]) == (
        "photos",
        "GET",
        "/api/photos/42",
        200,
    )
    assert row["outbound_count"] == 1
    detail = gw.run(gw._app.state.monitor.traffic.detail(row["tx_id"]))
    (call,) = detail["outbound"]
    assert (call["kind"], call["method"], call["target"], call["status"]) == (
        "http",
        "GET",
        upstream.url + "/api/photos/42",
        200,
    )
    assert call["duration_ms"] > 0


def test_traffic_filters(gw):
    token = issue(gw, subject="hank")
    httpx.get(f"{gw.url}/api/photos", headers=bearer(token))
    httpx.get(f"{gw.url}/api/photos?status=404", headers=bearer(token))
    httpx.get(f"{gw.url}/api/videos", headers=bearer(token))
    assert len(traffic(gw, client="hank")) == 3
    assert len(traffic(gw, client="hank", service="videos")) == 1
    assert [r["status"] for r in traffic(gw, client="hank", status="4xx")] == [403, 404]
    assert len(traffic(gw, client="hank", status="200")) == 1
    assert len(traffic(gw, client="hank", status="failed")) == 2


def test_traffic_log_never_holds_secrets(gw, tmp_path_factory):
    client, secret = gw.create_client(
        "redact", grant_types=["client_credentials"], scopes=["photos.read"]
    )
    assert secret
    token = httpx.post(
        f"{gw.url}/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(client.client_id, secret),
    ).json()["access_token"]
    httpx.post(
        f"{gw.url}/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client.client_id,
            "client_secret": secret,
        },
    )
    httpx.post(
        f"{gw.url}/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": "CodeValue1234567890abcdef",
            "redirect_uri": "https://app.example/cb",
            "code_verifier": "Verifier" * 6,
        },
        auth=(client.client_id, secret),
    )
    httpx.post(
        f"{gw.url}/oauth2/introspect", data={"token": token}, auth=(client.client_id, secret)
    )
    httpx.get(f"{gw.url}/api/photos/p?api_key=QuerySecret42", headers=bearer(token))
    httpx.get(f"{gw.url}/api/photos?access_token={token}")
    httpx.post(f"{gw.url}/api/photos", data={"access_token": token, "password": "Hunter2Pass"})
    httpx.get(f"{gw.url}/api/photos", headers={"Authorization": "Basic SGVsbG9CYXNpYw=="})
    flush(gw)
    db = Path(gw.settings.storage.url.removeprefix("sqlite:///"))
    raw = b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
    rows = traffic(gw, limit=10_000)
    dumped = json.dumps(rows) + json.dumps(
        [gw.run(gw._app.state.monitor.traffic.detail(r["tx_id"])) for r in rows[:50]]
    )
    assert any(r["client"] == client.client_id for r in rows)
    for secret_text in (
        secret,
        token,
        "CodeValue1234567890abcdef",
        "Verifier" * 6,
        "QuerySecret42",
        "Hunter2Pass",
        "SGVsbG9CYXNpYw==",
    ):
        assert secret_text not in dumped, secret_text
        assert secret_text.encode() not in raw, secret_text
    assert "Basic" not in dumped and "Bearer" not in dumped
    assert all("?" not in r["path"] for r in rows)


# Settings that change monitoring


def test_record_outbound_off_and_label_bound(tmp_path, upstream):
    config = {
        "gateway.routes": routes(upstream.url),
        "monitoring.record_outbound": "false",
        "monitoring.max_clients": "2",
    }
    with run_server(tmp_path, config) as server:
        for who in ("u1", "u2", "u3", "u4"):
            httpx.get(f"{server.url}/api/photos", headers=bearer(issue(server, subject=who)))
        rows = traffic(server)
        assert len(rows) == 4
        assert all(r["outbound_count"] == 0 for r in rows)
        detail = server.run(server._app.state.monitor.traffic.detail(rows[0]["tx_id"]))
        assert detail["outbound"] == []
        name = "authgate_service_requests_total"
        assert sample(server, name, service="photos", client="u1") == 1
        assert sample(server, name, service="photos", client="u2") == 1
        assert sample(server, name, service="photos", client="other") == 2
        assert sample(server, name, service="photos", client="u3") == 0


def test_monitoring_disabled(tmp_path, upstream):
    config = {"gateway.routes": routes(upstream.url), "monitoring.enabled": "false"}
    with run_server(tmp_path, config) as server:
        answer = httpx.get(f"{server.url}/api/photos", headers=bearer(issue(server)))
        assert answer.status_code == 200
        metrics = httpx.get(f"{server.url}/metrics")
        assert metrics.status_code == 200
        assert 'service="photos"' not in metrics.text
        assert server._app.state.monitor.traffic is None


def test_traffic_retention_by_count_and_age(tmp_path, upstream, fresh_database):  # noqa: F811
    """On every registry backend, in chunks smaller than what goes (each its own
    transaction): the newest rows by count, then none by age, outbound calls with them."""
    asyncio.run(migrated(fresh_database))
    config = {
        "storage.url": fresh_database,
        "gateway.routes": routes(upstream.url),
        "monitoring.traffic_max_rows": "3",
    }
    with run_server(tmp_path, config) as server:
        token = issue(server)
        for _ in range(7):
            httpx.get(f"{server.url}/api/photos", headers=bearer(token))
            time.sleep(0.005)
        assert len(traffic(server)) == 7
        newest = [row["tx_id"] for row in traffic(server)][:3]
        log = server._app.state.monitor.traffic
        log.retention_chunk = 2
        server.run(log.apply_retention())
        assert [row["tx_id"] for row in traffic(server)] == newest
        assert all(server.run(log.detail(tx_id))["outbound"] for tx_id in newest)
        assert server.run(outbound_rows(log)) == 3
        server.run(log.apply_retention(time.time() + 8 * 86400))
        assert traffic(server) == []
        assert server.run(outbound_rows(log)) == 0


async def outbound_rows(log: Any) -> int:
    from sqlalchemy import func, select

    from authgate.db.schema import traffic_outbound

    async with log.engine.connect() as conn:
        count: int = (
            await conn.execute(select(func.count()).select_from(traffic_outbound))
        ).scalar_one()
    return count


# Upstreams that stream in chunks, keep connections alive, or stop halfway


class RawUpstream(socketserver.ThreadingTCPServer):
    """Hand-written HTTP/1.1 answers, by path: `/chunked`, `/cut`, `/cut-chunked`, else 2 bytes."""

    daemon_threads = True
    connections = 0


class _RawHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        server = self.server
        assert isinstance(server, RawUpstream)
        server.connections += 1
        pending = b""
        while True:
            while b"\r\n\r\n" not in pending:
                data = self.request.recv(65536)
                if not data:
                    return
                pending += data
            head, pending = pending.split(b"\r\n\r\n", 1)
            path = head.split(b" ")[1]
            if path.startswith(b"/api/raw/chunked"):
                self.request.sendall(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
                for index in range(50):
                    part = b"%04d" % index * 1000
                    self.request.sendall(b"%x\r\n%s\r\n" % (len(part), part))
                self.request.sendall(b"0\r\n\r\n")
            elif path.startswith(b"/api/raw/cut-chunked"):
                self.request.sendall(
                    b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n"
                )
                return
            elif path.startswith(b"/api/raw/cut"):
                self.request.sendall(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 1000000\r\n\r\n" + b"x" * 1000
                )
                return
            else:
                self.request.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")


@pytest.fixture(scope="module")
def raw_gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, RawUpstream]]:
    upstream = RawUpstream(("127.0.0.1", free_port()), _RawHandler)
    thread = threading.Thread(target=upstream.serve_forever, daemon=True)
    thread.start()
    port = upstream.server_address[1]
    table = json.dumps(
        [
            {"path": "/api/raw", "upstream": f"http://127.0.0.1:{port}", "service": "raw"},
            # Under `/manager`: the router, not the lane past it, decides who answers.
            {"path": "/manager/ext", "upstream": f"http://127.0.0.1:{port}", "service": "ext"},
        ]
    )
    try:
        with run_server(tmp_path_factory.mktemp("raw"), {"gateway.routes": table}) as server:
            yield server, upstream
    finally:
        upstream.shutdown()
        upstream.server_close()


def test_chunked_upstream_answer_is_passed_on_whole(raw_gw):
    gw, _ = raw_gw
    answer = httpx.get(f"{gw.url}/api/raw/chunked", headers=bearer(issue(gw, scopes=())))
    assert answer.status_code == 200
    assert answer.content == b"".join(b"%04d" % i * 1000 for i in range(50))


def test_upstream_connections_are_kept_alive(raw_gw):
    gw, upstream = raw_gw
    token = issue(gw, scopes=())
    before = upstream.connections
    with httpx.Client() as client:
        for _ in range(20):
            assert client.get(f"{gw.url}/api/raw/x", headers=bearer(token)).content == b"ok"
    assert upstream.connections - before <= 1


@pytest.mark.parametrize("path", ["cut", "cut-chunked"])
def test_upstream_stopping_halfway_cuts_the_answer_short(raw_gw, path):
    gw, _ = raw_gw
    received = b""
    with pytest.raises(httpx.RemoteProtocolError):  # not a hang, and not a clean end
        with httpx.stream(
            "GET", f"{gw.url}/api/raw/{path}", headers=bearer(issue(gw, scopes=())), timeout=10
        ) as answer:
            assert answer.status_code == 200
            for chunk in answer.iter_raw():
                received += chunk
    assert received == (b"x" * 1000 if path == "cut" else b"hello")
    # The gateway is still fine, and so is the pool.
    ok = httpx.get(f"{gw.url}/api/raw/x", headers=bearer(issue(gw, scopes=())))
    assert ok.content == b"ok"


def test_a_route_below_a_page_prefix_is_the_gateways_where_no_page_is(raw_gw):
    gw, _ = raw_gw
    app = gw._app
    assert app.route_table.match("/manager/ext/x").service == "ext"
    answer = httpx.get(f"{gw.url}/manager/ext/x", headers=bearer(issue(gw, scopes=())))
    assert (answer.status_code, answer.content) == (200, b"ok")
    refused = httpx.get(f"{gw.url}/manager/ext/x")
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == 'Bearer realm="authgate"'
    assert httpx.get(f"{gw.url}/manager/login").status_code == 200


# A route at "/": everything that is not authgate's own goes upstream


@pytest.fixture(scope="module")
def root_gw(
    tmp_path_factory: pytest.TempPathFactory, upstream: Upstream
) -> Iterator[RunningServer]:
    table = json.dumps([{"path": "/", "upstream": upstream.url, "service": "everything"}])
    with run_server(tmp_path_factory.mktemp("root"), {"gateway.routes": table}) as server:
        yield server


def test_a_route_at_the_root_streams_bodies_over_the_page_limit(root_gw, upstream):
    token = issue(root_gw, scopes=())
    body = b"z" * (1024 * 1024)  # 16 times the limit of authgate's own endpoints and pages
    answer = httpx.post(
        f"{root_gw.url}/anything/upload", headers=bearer(token), content=body, timeout=30
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["body_size"] == len(body)
    assert answer.json()["raw_path"] == "/anything/upload"


def test_a_route_at_the_root_leaves_authgate_its_own_paths_and_their_names(root_gw, upstream):
    name = "authgate_service_requests_total"
    flush(root_gw)
    counted = sample(root_gw, name, service="everything", client="alice", outcome="success")
    anonymous = [
        sample(root_gw, name, service="everything", client="anonymous", outcome=o)
        for o in ("success", "failure")
    ]
    before = len(upstream.calls)
    assert httpx.get(f"{root_gw.url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{root_gw.url}/metrics").status_code == 200
    metadata = httpx.get(f"{root_gw.url}/.well-known/oauth-authorization-server")
    assert metadata.json()["issuer"] == root_gw.settings.effective_issuer()
    too_large = httpx.post(
        f"{root_gw.url}/oauth2/token",
        content=b"a=" + b"b" * 70000,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert too_large.status_code == 413  # the endpoint's own limit, not the route's streaming
    login = httpx.post(
        f"{root_gw.url}/oauth2/authorize",
        content=b"a=" + b"b" * 70000,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert login.status_code == 413  # pages too
    assert len(upstream.calls) == before  # none of them went upstream
    httpx.get(f"{root_gw.url}/elsewhere", headers=bearer(issue(root_gw, scopes=())))
    flush(root_gw)
    assert (
        sample(root_gw, name, service="everything", client="alice", outcome="success")
        == counted + 1
    )
    assert sample(root_gw, name, service="oauth2.token", client="anonymous", outcome="failure") == 1
    # /healthz, /metrics and the metadata were not counted as calls of the route.
    assert [
        sample(root_gw, name, service="everything", client="anonymous", outcome=o)
        for o in ("success", "failure")
    ] == anonymous
