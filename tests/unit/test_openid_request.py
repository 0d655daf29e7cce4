"""The OpenID Connect parameters of an authorization request (Core 1.0 section 3.1.2.1)."""

from __future__ import annotations

import pytest

from authgate.errors import OAuthError
from authgate.flows.openid_request import (
    OpenIDParameters,
    needs_fresh_login,
    parse_openid_parameters,
)
from authgate.forms import Form


def parse(**params: str) -> OpenIDParameters:
    return parse_openid_parameters(Form(params.items()))


def test_nonce_prompt_and_max_age_are_read():
    assert parse(nonce="n", prompt="login consent", max_age="0") == OpenIDParameters(
        "n", ("login", "consent"), 0
    )
    assert parse() == OpenIDParameters()


def test_a_nonce_of_1024_characters_is_the_longest():
    assert parse(nonce="x" * 1024).nonce == "x" * 1024
    with pytest.raises(OAuthError) as caught:
        parse(nonce="x" * 1025)
    assert caught.value.code == "invalid_request"


@pytest.mark.parametrize(
    "params",
    [
        {"prompt": "none consent"},
        {"prompt": "always"},
        {"max_age": "-5"},
        {"max_age": "1.5"},
        {"max_age": "9" * 11},
    ],
)
def test_malformed_parameters_are_invalid_request(params):
    with pytest.raises(OAuthError) as caught:
        parse(**params)
    assert caught.value.code == "invalid_request"


def test_a_repeated_nonce_is_invalid_request():
    with pytest.raises(OAuthError):
        parse_openid_parameters(Form([("nonce", "a"), ("nonce", "b")]))


def test_a_fresh_login_is_needed_for_prompt_login_or_an_old_login():
    assert needs_fresh_login(("login",), None, 100, 100)
    assert not needs_fresh_login((), None, None, 100)
    assert not needs_fresh_login((), 60, 100, 159)
    assert needs_fresh_login((), 60, 100, 160)
    assert needs_fresh_login((), 60, None, 100)  # a login of unknown age
