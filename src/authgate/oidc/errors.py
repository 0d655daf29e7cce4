"""What the rest of authgate catches from OpenID Connect; importable without the JOSE library."""


class InvalidToken(Exception):
    """A JWT that is malformed, not signed by a published key, or whose claims fail."""
