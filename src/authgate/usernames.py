"""The canonical form of a username: how every name is stored, looked up, locked out and
reported (`sub`, `username`), so that names a person cannot tell apart are one account.

The form is Unicode's NFKC_Casefold in spirit, the identifier folding of UTS #31:
1. NFKC: compatibility variants become their plain letters (a fullwidth `alice` -> `alice`,
   the ligature U+FB01 -> `fi`);
2. default-ignorable code points go: they draw nothing (the soft hyphen U+00AD, zero-width
   spaces and joiners, variation selectors, the byte order mark);
3. white space is trimmed at both ends and each inner run becomes one space, as LDAP's
   caseIgnoreMatch compares names;
4. casefold (`ß` -> `ss`, a capital sigma -> a small one), then NFKC again, since folding can
   un-normalise.

Letters that differ in more than case or width (`é` and `e`, Cyrillic and Latin `a`) stay
different names: merging them is a policy of confusables that a lookup key must not impose
(MariaDB's default collation would, so the username columns compare bytes there).
A name that is empty in this form, or that holds a control character or a surrogate, is no
name at all; nor is one longer than the username columns.
"""

from __future__ import annotations

import functools
import unicodedata
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import regex

MAX_LENGTH = 255  # characters: the width of the username columns


@functools.cache
def _patterns() -> tuple[regex.Pattern[str], regex.Pattern[str]]:
    """The default-ignorable code points, and the characters no name may hold."""
    # Imported with the first name, not at start: the regex module and its Unicode tables
    # cost each process about 1.4 MB, and a server that only issues client_credentials
    # tokens never folds a name.
    import regex

    return regex.compile(r"\p{Default_Ignorable_Code_Point}+"), regex.compile(r"[\p{Cc}\p{Cs}]")


class InvalidUsername(ValueError):
    """A name that has no canonical form: empty, too long, or with a control character."""


def canonical_username(name: str) -> str:
    """The canonical form of `name`; InvalidUsername if it has none."""
    ignorable, invalid = _patterns()
    if invalid.search(name):
        raise InvalidUsername("a username may not contain control characters")
    folded = ignorable.sub("", unicodedata.normalize("NFKC", name))
    folded = unicodedata.normalize("NFKC", " ".join(folded.split()).casefold())
    if not folded:
        raise InvalidUsername("a username may not be empty")
    if len(folded) > MAX_LENGTH:
        raise InvalidUsername(f"a username may not be longer than {MAX_LENGTH} characters")
    return folded


def canonical_or_none(name: str) -> str | None:
    """The canonical form of `name`, or None where it has none (a login that cannot succeed)."""
    try:
        return canonical_username(name)
    except InvalidUsername:
        return None
