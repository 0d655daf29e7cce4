"""The signed pre-login CSRF token (pages/login_csrf.py): bound to its cookie, its realm and
its expiry, and the same in every process sharing the registry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from starlette.requests import Request

from authgate.db import create_engine, migrate
from authgate.pages import login_csrf
from authgate.pages.login_csrf import LoginCsrf
from authgate.pages.sessions import ADMIN, ANONYMOUS_TTL, USER
from authgate.registry import Registry
from authgate.tokens import now

pytestmark = pytest.mark.anyio


@pytest.fixture
async def registries(tmp_path: Path) -> AsyncIterator[list[Registry]]:
    """Two registries on one database, as two server processes see it."""
    engines = [create_engine(f"sqlite:///{tmp_path}/registry.db") for _ in range(2)]
    await migrate(engines[0])
    try:
        yield [Registry(engine) for engine in engines]
    finally:
        for engine in engines:
            await engine.dispose()


def browser(cookie_name: str, value: str | None) -> Request:
    headers = [(b"cookie", f"{cookie_name}={value}".encode())] if value else []
    return Request({"type": "http", "method": "POST", "path": "/", "headers": headers})


async def test_a_token_is_good_for_its_cookie_in_every_process(registries):
    one, two = (LoginCsrf(registry, ADMIN, secure=False) for registry in registries)
    token, value = await one.issue(browser(one.cookie_name, None))
    assert await two.is_valid(browser(two.cookie_name, value), token)
    other_token, other_value = await two.issue(browser(two.cookie_name, None))
    assert other_value != value
    assert not await one.is_valid(browser(one.cookie_name, value), other_token)
    assert not await one.is_valid(browser(one.cookie_name, None), token)
    assert not await one.is_valid(browser(one.cookie_name, value), None)


async def test_a_token_is_good_for_its_realm_only(registries):
    admin = LoginCsrf(registries[0], ADMIN, secure=False)
    user = LoginCsrf(registries[0], USER, secure=False)
    token, value = await admin.issue(browser(admin.cookie_name, None))
    assert not await user.is_valid(browser(user.cookie_name, value), token)


async def test_a_token_expires(registries, monkeypatch):
    csrf = LoginCsrf(registries[0], ADMIN, secure=False)
    token, value = await csrf.issue(browser(csrf.cookie_name, None))
    later = now() + ANONYMOUS_TTL
    monkeypatch.setattr(login_csrf, "now", lambda: later)
    assert not await csrf.is_valid(browser(csrf.cookie_name, value), token)
    expires = token.split(".")[0]
    assert not await csrf.is_valid(
        browser(csrf.cookie_name, value), token.replace(expires, str(later + 60), 1)
    )  # a later expiry is another signature


async def test_the_browser_keeps_its_cookie_value(registries):
    csrf = LoginCsrf(registries[0], ADMIN, secure=False)
    _, value = await csrf.issue(browser(csrf.cookie_name, None))
    again, same = await csrf.issue(browser(csrf.cookie_name, value))
    assert same == value
    assert await csrf.is_valid(browser(csrf.cookie_name, value), again)
