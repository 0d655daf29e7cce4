"""`/metrics` behind `[monitoring] metrics_token`, over real HTTP (issue 11, finding 6)."""

from __future__ import annotations

import httpx

from tests.e2e.server import run_server

TOKEN = "a-metrics-token-for-prometheus"


def test_with_a_metrics_token_only_its_bearer_reads_the_metrics(tmp_path):
    with run_server(tmp_path, {"monitoring.metrics_token": TOKEN}) as server:
        server.create_user("alice", "alice-password")
        url = f"{server.url}/metrics"
        anonymous = httpx.get(url)
        assert anonymous.status_code == 401
        assert anonymous.headers["www-authenticate"].startswith('Bearer realm="authgate"')
        assert "client=" not in anonymous.text
        assert httpx.get(url, headers={"Authorization": f"Bearer {TOKEN[:-1]}"}).status_code == 401
        answer = httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"})
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/plain")


def test_without_a_token_the_loopback_peer_reads_the_metrics(server):
    assert httpx.get(f"{server.url}/metrics").status_code == 200  # the test runs on loopback
