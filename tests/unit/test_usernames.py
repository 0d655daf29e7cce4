"""The canonical form of usernames (authgate.usernames)."""

from __future__ import annotations

import pytest

from authgate.usernames import InvalidUsername, canonical_or_none, canonical_username

FULLWIDTH_ALICE = "\uff41\uff4c\uff49\uff43\uff45"
VARIANTS_OF_ALICE = ["alice", "Alice", "ALICE", " alice", FULLWIDTH_ALICE, "ali\u00adce"]
INVISIBLE = ["al\u200bice", "\ufeffalice", "alic\ufe0fe"]  # zero-width space, BOM, selector


@pytest.mark.parametrize("name", [*VARIANTS_OF_ALICE, *INVISIBLE])
def test_variants_a_person_cannot_tell_apart_are_one_name(name):
    assert canonical_username(name) == "alice"


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("Straße", "strasse"),  # full case folding
        ("ΣΊΣΥΦΟΣ", "σίσυφοσ"),
        ("ﬁona", "fiona"),  # compatibility ligature
        ("Jean  Luc", "jean luc"),  # an inner run of white space is one space, as LDAP compares
        ("bob\u3000smith", "bob smith"),  # ideographic space
    ],
)
def test_case_width_and_spacing_fold(name, canonical):
    assert canonical_username(name) == canonical


@pytest.mark.parametrize(("one", "other"), [("alicé", "alice"), ("\u0430lice", "alice")])
def test_letters_that_differ_stay_different_names(one, other):
    """An accent or a Cyrillic a is another name (a collation must not merge them)."""
    assert canonical_username(one) != canonical_username(other)


@pytest.mark.parametrize(
    "name", ["", "   ", "\u00ad", "ali\nce", "alice\x00", "\x1b[31malice", "\ud800", "a" * 256]
)
def test_empty_control_characters_and_overlong_names_are_invalid(name):
    with pytest.raises(InvalidUsername):
        canonical_username(name)
    assert canonical_or_none(name) is None


def test_the_canonical_form_is_canonical():
    for name in [*VARIANTS_OF_ALICE, "Straße", "ﬁona", "ΣΊΣΥΦΟΣ", "İstanbul"]:
        once = canonical_username(name)
        assert canonical_username(once) == once
