"""The grant tests of the other e2e modules, again with `storage.tokens` on PostgreSQL and on a
Redis Cluster (the registry stays on SQLite; codes follow tokens).

Those modules already run every test on the SQLite default, so this matrix adds only the
external stores. Each check is a test function of its own module, called as is: the flows
are written once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.backends import fresh_postgresql, migrated
from tests.backends import redis_cluster as redis_cluster  # a fixture, asked for by name
from tests.e2e import test_authorization_code as authorization_code
from tests.e2e import test_client_credentials as client_credentials
from tests.e2e import test_refresh as refresh
from tests.e2e import test_revoke as revoke
from tests.e2e.browser import Browser
from tests.e2e.server import RunningServer, run_server

STORES = ["postgresql", "redis-cluster"]

Check = Callable[..., Any]
CHECKS: list[Check] = [
    authorization_code.test_full_flow_login_consent_token_introspect,
    authorization_code.test_code_reuse_is_invalid_grant_and_revokes_the_first_tokens_rfc6749_4_1_2,
    refresh.test_mode_new_rotates_with_authlib,
    refresh.test_replay_of_a_rotated_token_revokes_the_family_rfc9700_4_14_2,
    refresh.test_50_concurrent_refreshes_exactly_one_succeeds,
    client_credentials.test_defaults_with_authlib_no_refresh_token_rfc6749_4_4_3,
    revoke.test_revoke_an_access_token_with_authlib,
    revoke.test_revoking_a_refresh_token_revokes_its_access_tokens_rfc7009_2_1,
]


@pytest.fixture(params=STORES)
async def tokens_url(request: pytest.FixtureRequest, anyio_backend: str) -> AsyncIterator[str]:
    """The URL of each external token store; anyio_backend makes anyio run this for a plain test."""
    if request.param == "postgresql":
        with fresh_postgresql() as url:
            await migrated(url)  # external databases are migrated by `authgate migrate`
            yield url
    else:
        yield request.getfixturevalue("redis_cluster")


@pytest.fixture
def server(tokens_url: str, tmp_path: Path) -> Iterator[RunningServer]:
    with run_server(tmp_path, {"storage.tokens": tokens_url}) as running:
        yield running


@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__.removeprefix("test_"))
def test_flow_on_an_external_token_store(server: RunningServer, check: Check) -> None:
    if check.__module__ != authorization_code.__name__:
        check(server)
        return
    server.create_user(authorization_code.USER, authorization_code.PASSWORD)
    with Browser(server.url) as browser:
        check(server, browser)
