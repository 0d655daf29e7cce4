"""`serve --workers 2`: `/metrics` counts the requests of every worker, whichever answers."""

from __future__ import annotations

import http.client
import time

from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.processes import children, owner_of_connection, serve, write_config
from tests.e2e.test_several_servers import GRANT, create_client, post_form

SERVICE = "oauth2.token.client_credentials"


def scraped_successes(conn: http.client.HTTPConnection) -> float:
    conn.request("GET", "/metrics")
    response = conn.getresponse()
    text = response.read().decode()
    assert response.status == 200, text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "authgate_service_requests_total"
        and sample.labels.get("service") == SERVICE
        and sample.labels.get("outcome") == "success"
    )


def test_each_worker_scrapes_the_requests_of_both(tmp_path):
    config = write_config(
        tmp_path / "authgate.toml", f'[storage]\nurl = "sqlite:///{tmp_path}/authgate.db"\n'
    )
    with serve(config, workers=2) as server:
        client = create_client(config, "svc", "--grant-type", "client_credentials")
        workers = children(server.pid)
        held: dict[int, http.client.HTTPConnection] = {}
        sent = 0
        try:
            # New connections until each worker holds one (the kernel hands each to either).
            deadline = time.monotonic() + 20
            while len(held) < 2 and time.monotonic() < deadline:
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
                post_form(conn, "/oauth2/token", GRANT, client)
                sent += 1
                assert conn.sock is not None
                owner = owner_of_connection(server.port, conn.sock.getsockname()[1], workers)
                if owner is not None and owner not in held:
                    held[owner] = conn
                else:
                    conn.close()
            assert len(held) == 2, f"workers {workers} did not both take a connection"
            # Unequal shares, so a scrape of one worker alone could not match the total.
            for conn, count in zip(held.values(), (3, 7), strict=True):
                for _ in range(count):
                    post_form(conn, "/oauth2/token", GRANT, client)
                sent += count
            # The other worker's counts are at most a second old (it publishes each second).
            deadline = time.monotonic() + 10
            seen = {owner: scraped_successes(conn) for owner, conn in held.items()}
            while set(seen.values()) != {sent} and time.monotonic() < deadline:
                time.sleep(0.2)
                seen = {owner: scraped_successes(conn) for owner, conn in held.items()}
            assert seen == dict.fromkeys(held, sent)
        finally:
            for conn in held.values():
                conn.close()
    assert "Traceback" not in server.log.read_text()
