from __future__ import annotations

import re
import time

import pytest

from authgate.config import GRANT_TYPES, GrantType, Settings, TokenSettings
from authgate.models import Client, TokenRecord
from authgate.tokens import digest, generate_token, issues_refresh_token, mint, new_grant_id


def test_tokens_have_exact_length_and_alphabet():
    for length in (16, 30, 46, 54, 200):
        token = generate_token(length)
        assert re.fullmatch(r"[A-Za-z0-9]+", token)
        assert len(token) == length
    assert len({generate_token(30) for _ in range(1000)}) == 1000


def test_digest_is_not_the_token():
    token = generate_token(54)
    assert token not in digest(token)
    assert digest(token) == digest(token)


def test_mint_follows_settings():
    settings = TokenSettings(
        access_token_expiry=120,
        access_token_length=20,
        refresh_token_length=25,
        access_token_type="MAC",
        metadata={"Department": "Engineering"},
    )
    base = TokenRecord("access_token", "c", "g", ("a",), 0, 0, subject="u")
    grant = mint(base, settings, client=Client("c", "C", None), with_refresh=True)
    body = grant.response()
    access, refresh = body["access_token"], body["refresh_token"]
    assert isinstance(access, str) and len(access) == 20
    assert isinstance(refresh, str) and len(refresh) == 25
    assert body["expires_in"] == 120
    assert body["token_type"] == "MAC"
    assert grant.access.record.metadata == {"Department": "Engineering"}
    assert grant.refresh is not None
    assert grant.refresh.record.grant_id == grant.access.record.grant_id == "g"


def test_every_character_is_equally_likely():
    from collections import Counter

    counts = Counter("".join(generate_token(62) for _ in range(2000)))
    assert set(counts) == set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
    # 2000 draws per character: a biased `% 62` would give the first 8 about 2.3x more.
    assert max(counts.values()) < 1.25 * min(counts.values())


def test_grant_ids_rise_with_time_and_never_repeat() -> None:
    earlier = [new_grant_id() for _ in range(1000)]
    time.sleep(0.002)
    later = new_grant_id()
    assert len(set(earlier)) == 1000
    assert all(len(g) == 32 and set(g) <= set("0123456789abcdef") for g in earlier)
    assert max(earlier) < later  # the index of grant ids grows at its end


def test_a_record_stored_by_an_earlier_version_with_a_parent_still_loads() -> None:
    stored = (
        b'{"kind":"access_token","client_id":"c","grant_id":"g","scopes":["a"],'
        b'"issued_at":1,"expires_at":2,"parent":"abc"}'
    )
    record = TokenRecord.from_json(stored)
    assert record.client_id == "c" and record.scopes == ("a",)


def _client(*grant_types: GrantType) -> Client:
    return Client("c", "C", "hash", grant_types=grant_types)


# (grant type, refresh mode) -> whether a new refresh token is minted (SPEC.md refresh modes)
REFRESH_RULES = {
    ("authorization_code", "new"): True,
    ("authorization_code", "preserve"): True,  # nothing presented: minted as under `new`
    ("authorization_code", "none"): False,
    ("password", "new"): True,
    ("password", "preserve"): True,
    ("password", "none"): False,
    ("refresh_token", "new"): True,
    ("refresh_token", "preserve"): False,  # the presented token is handed back instead
    ("refresh_token", "none"): False,
    ("client_credentials", "new"): True,
    ("client_credentials", "preserve"): False,  # RFC 6749 section 4.4.3: only an explicit new
    ("client_credentials", "none"): False,
}


@pytest.mark.parametrize(("grant_type", "mode"), sorted(REFRESH_RULES))
def test_refresh_token_follows_the_flows_mode(grant_type, mode):
    client = _client(grant_type, "refresh_token")
    settings = TokenSettings(refresh=mode)
    assert issues_refresh_token(client, settings, grant_type) is REFRESH_RULES[grant_type, mode]


@pytest.mark.parametrize("grant_type", GRANT_TYPES)
def test_no_refresh_token_for_a_client_that_may_not_redeem_it(grant_type):
    client = _client("authorization_code", "password", "client_credentials")
    assert not issues_refresh_token(client, TokenSettings(refresh="new"), grant_type)


def test_client_credentials_refresh_needs_the_flows_own_new_rfc6749_4_4_3():
    client = _client("client_credentials", "refresh_token")
    defaults = Settings.model_validate({"tokens": {"refresh": "new"}})
    assert not issues_refresh_token(
        client, defaults.token_settings("client_credentials"), "client_credentials"
    )
    flow_says_new = Settings.model_validate(
        {"flows": {"client_credentials": {"tokens": {"refresh": "new"}}}}
    )
    assert issues_refresh_token(
        client, flow_says_new.token_settings("client_credentials"), "client_credentials"
    )


def test_a_sandbox_keys_tokens_say_so_and_an_ordinary_record_is_unchanged():
    base = TokenRecord("access_token", "c", "g", ("a",), 0, 0, subject="u")
    ordinary = Client("c", "C", None)
    sandbox = Client("c", "C", None, app_id="app-1", environment="sandbox")
    grant = mint(base, TokenSettings(), client=sandbox, with_refresh=True)
    assert grant.refresh is not None
    for record in (grant.access.record, grant.refresh.record):
        assert record.is_sandbox
        assert '"is_sandbox":true' in record.to_json()
        assert TokenRecord.from_json(record.to_json()) == record
    # The mark comes from the client, whatever the record it is minted from says.
    again = mint(grant.refresh.record, TokenSettings(), client=ordinary, with_refresh=True)
    assert again.refresh is not None
    for record in (again.access.record, again.refresh.record):
        assert not record.is_sandbox
        assert "is_sandbox" not in record.to_json()  # an ordinary token's record: no new key
        assert TokenRecord.from_json(record.to_json()) == record
    # A record written before the field existed reads as an ordinary one.
    assert not TokenRecord.from_json(base.to_json()).is_sandbox
    production = Client("c", "C", None, app_id="app-1", environment="production")
    assert not mint(
        base, TokenSettings(), client=production, with_refresh=False
    ).access.record.is_sandbox
