"""The gateway's cases of bench/run.py: the upstream alone, nginx in front of it, authgate
in front of it, and authgate with JWT access tokens."""

from __future__ import annotations

import contextlib
import os

from harness import (
    BENCH,
    BIN,
    SCOPE,
    SERVER_CPU,
    Bench,
    Case,
    Process,
    Row,
    Skip,
    brief,
    call,
    clean_env,
    ensure_nginx,
    free_port,
    started,
    wait_ready,
)
from targets import Authgate, Store


def skip_all(bench: Bench, rows: list[Row], reason: str) -> None:
    for row in rows:
        bench.rows.append(row)
        bench.skip(row, reason)
        bench.cases_left -= 1


NGINX_CONF = """worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
{user}
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {work}/nginx-body;
    proxy_temp_path {work}/nginx-proxy;
    fastcgi_temp_path {work}/nginx-fastcgi;
    uwsgi_temp_path {work}/nginx-uwsgi;
    scgi_temp_path {work}/nginx-scgi;
    upstream bench {{
        server 127.0.0.1:{upstream};
        keepalive 32;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://bench;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""


def nginx_process(bench: Bench, nginx: str, up_port: int) -> tuple[Process, int]:
    """nginx as a plain reverse proxy to the same upstream: one worker on core 0, keep-alive
    connections upstream, no access log (authgate's gateway keeps a traffic log)."""
    port = free_port()
    conf = bench.work / "nginx.conf"
    # Run by root, nginx's worker would become `nobody`, which cannot open the work files.
    user = "user root;" if os.geteuid() == 0 else ""
    conf.write_text(NGINX_CONF.format(work=bench.work, user=user, upstream=up_port, port=port))
    argv = ["taskset", "-c", SERVER_CPU, nginx, "-p", str(bench.work), "-c", str(conf)]
    argv += ["-e", str(bench.work / "nginx-error.log")]
    process = Process(
        "nginx", argv, cwd=bench.work, env=clean_env(), logfile=bench.work / "nginx.log"
    )
    return process, port


def gateway_cases(bench: Bench) -> None:
    """The upstream alone, nginx in front of it and authgate in front of it, taking turns run
    by run; then authgate with JWT access tokens (RFC 9068, checked by signature before the
    store), and client_credentials issuing JWTs."""
    direct = Row("gateway GET", "upstream", "direct")
    proxied = Row("gateway GET", "nginx", "proxy_pass")
    routed = [
        Row("gateway GET", "authgate", "memory"),
        Row("gateway GET (jwt)", "authgate", "memory"),
        Row("client_credentials (jwt)", "authgate", "memory"),
    ]
    upstream, up_port = upstream_process(bench)
    env = {"BENCH_PATH": "/api/bench"}
    with contextlib.ExitStack() as running:
        running.enter_context(started(upstream))
        try:
            wait_ready(upstream, up_port, "/")
        except Skip as exc:
            skip_all(bench, [direct, proxied, *routed], str(exc))
            return
        cases = [Case(direct, upstream, "gateway.lua", up_port, env)]
        nginx = ensure_nginx()
        if nginx is None:
            skip_all(bench, [proxied], "nginx is not installed (Debian package nginx)")
        else:
            process, port = nginx_process(bench, nginx, up_port)
            running.enter_context(started(process))
            try:
                wait_ready(process, port, "/")
                cases.append(Case(proxied, process, "gateway.lua", port, env))
            except Skip as exc:
                skip_all(bench, [proxied], str(exc))
        try:
            server = routed_server(bench, up_port, "gateway")
            running.enter_context(started(server.process))
            token = gateway_token(server)
            cases.append(
                Case(
                    routed[0],
                    server.process,
                    "gateway.lua",
                    server.port,
                    dict(env, BENCH_TOKEN=token),
                )
            )
        except Skip as exc:
            skip_all(bench, [routed[0]], str(exc))
        bench.measure_interleaved(cases)
        if routed[0].rps:
            routed[0].note = (routed[0].note + "; " if routed[0].note else "") + (
                "upstream shares core 0"
            )
        jwt = '[tokens]\naccess_token_format = "jwt"\n'
        routed_cases(bench, up_port, "gateway-jwt", routed[1:], jwt)


def upstream_process(bench: Bench) -> tuple[Process, int]:
    """The bench upstream (bench/upstream.py) on core 0, and its port."""
    up_port = free_port()
    argv = [
        "taskset",
        "-c",
        SERVER_CPU,
        str(BIN / "uvicorn"),
        "--app-dir",
        str(BENCH),
        "upstream:app",
        "--port",
        str(up_port),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    upstream = Process(
        "upstream", argv, cwd=bench.work, env=clean_env(), logfile=bench.work / "upstream.log"
    )
    return upstream, up_port


def route_config(up_port: int) -> str:
    """The `[[gateway.routes]]` table of a route /api/bench to the upstream."""
    return (
        f'[[gateway.routes]]\npath = "/api/bench"\n'
        f'upstream = "http://127.0.0.1:{up_port}"\nscopes = ["{SCOPE}"]\n'
        f'service = "bench"\n'
    )


def routed_server(bench: Bench, up_port: int, tag: str, tokens: str = "") -> Authgate:
    """An authgate (memory store) with a route /api/bench to the upstream."""
    return Authgate(bench, Store("memory", "memory://"), tag, tokens + route_config(up_port))


def gateway_token(server: Authgate) -> str:
    """An access token, once the route answers with it."""
    server.ready()
    token = server.access_token()
    status, body = call(server.port, "GET", "/api/bench", bearer=token)
    if status != 200:
        raise Skip(f"gateway not available: GET /api/bench answered {status}: {brief(body)}")
    return token


def routed_cases(bench: Bench, up_port: int, tag: str, rows: list[Row], tokens: str = "") -> None:
    """One authgate with a route to the upstream: the gateway row, then client_credentials."""
    try:
        server = routed_server(bench, up_port, tag, tokens)
        with started(server.process):
            token = gateway_token(server)
            gateway, *issuing = rows
            env = {"BENCH_PATH": "/api/bench", "BENCH_TOKEN": token}
            bench.measure(gateway, server.process, "gateway.lua", server.port, env)
            gateway.note = (gateway.note + "; " if gateway.note else "") + "upstream shares core 0"
            for row in issuing:
                script = "client_credentials.lua"
                bench.measure(row, server.process, script, server.port, server.env())
    except Skip as exc:
        for row in rows:
            if row not in bench.rows:
                bench.rows.append(row)
                bench.skip(row, str(exc))
                bench.cases_left -= 1
