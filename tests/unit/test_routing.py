"""The one route table: which handler serves a path, its service context and body policy."""

from __future__ import annotations

from typing import Any

import pytest

from authgate.app import create_app
from authgate.config import Settings, load_settings
from authgate.errors import ConfigError
from authgate.routing import RouteMatch


def table(*routes: dict[str, Any], demo: bool = False) -> Any:
    settings = Settings.model_validate(
        {"gateway": {"routes": [{"upstream": "http://127.0.0.1:9", **route} for route in routes]}}
    )
    return create_app(settings, demo=demo).route_table  # type: ignore[attr-defined]


def service(match: RouteMatch) -> tuple[str | None, str, bool]:
    return match.service, match.composite, match.streams_body


def test_a_route_takes_its_path_and_everything_below_it() -> None:
    routes = table({"path": "/api/photos", "service": "photos"})
    assert service(routes.match("/api/photos")) == ("photos", "", True)
    assert service(routes.match("/api/photos/1/x")) == ("photos", "", True)
    assert service(routes.match("/api/photosx")) == (None, "", False)  # the router: 404


def test_the_longest_path_wins_whatever_the_order() -> None:
    for order in ((0, 1), (1, 0)):
        entries = [{"path": "/api", "service": "read"}, {"path": "/api/admin", "service": "admin"}]
        routes = table(*(entries[i] for i in order))
        assert routes.match("/api/admin/users").service == "admin"
        assert routes.match("/api/adminx").service == "read"
        assert routes.match("/api/x").service == "read"


def test_two_routes_with_one_path_stop_the_start() -> None:
    environ = {
        "AUTHGATE_GATEWAY__ROUTES": '[{"path": "/api", "upstream": "http://a"}, '
        '{"path": "/api", "upstream": "http://b"}]'
    }
    with pytest.raises(ConfigError, match=r"gateway\.routes: two routes have the path '/api'"):
        load_settings(environ=environ)


def test_a_route_at_the_root_leaves_authgate_its_own_paths() -> None:
    routes = table({"path": "/", "service": "everything", "composite": "all"})
    # The token endpoints read their own body, under the same limit (endpoints/fast_lane.py).
    assert service(routes.match("/oauth2/token")) == ("oauth2.token", "", True)
    assert service(routes.match("/oauth2/introspect")) == ("oauth2.introspect", "", True)
    assert service(routes.match("/oauth2/authorize")) == ("oauth2.authorize", "", False)
    for page in (
        "/healthz",
        "/readyz",
        "/metrics",
        "/manager",
        "/manager/login",
        "/manager/traffic/abc",
        "/static/authgate.css",
        "/manager/static/manager.js",
        "/.well-known/oauth-authorization-server",
    ):
        assert service(routes.match(page)) == (None, "", False), page
    assert service(routes.match("/oauth2/elsewhere")) == ("everything", "all", True)
    assert service(routes.match("/api/photos")) == ("everything", "all", True)
    assert service(routes.match("/playground")) == ("everything", "all", True)  # no demo


def test_the_demo_playground_is_ours_only_with_the_demo() -> None:
    assert table({"path": "/"}, demo=True).match("/playground/start").service is None
