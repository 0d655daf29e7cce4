from __future__ import annotations

import re
import time

from authgate.config import TokenSettings
from authgate.models import TokenRecord
from authgate.tokens import digest, generate_token, mint, new_grant_id


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
    settings = TokenSettings(access_token_expiry=120, access_token_length=20,
                             refresh_token_length=25, access_token_type="MAC",
                             metadata={"Department": "Engineering"})
    base = TokenRecord("access_token", "c", "g", ("a",), 0, 0, subject="u")
    grant = mint(base, settings, with_refresh=True)
    body = grant.response()
    access, refresh = body["access_token"], body["refresh_token"]
    assert isinstance(access, str) and len(access) == 20
    assert isinstance(refresh, str) and len(refresh) == 25
    assert body["expires_in"] == 120
    assert body["token_type"] == "MAC"
    assert grant.access.record.metadata == {"Department": "Engineering"}
    assert grant.refresh is not None
    assert grant.access.record.parent == grant.refresh.key
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
