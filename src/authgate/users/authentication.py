"""The one door for resource owners, shared by the login page and the password grant."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from authgate.events import Events
from authgate.models import User
from authgate.usernames import canonical_or_none
from authgate.users.base import UserRepository
from authgate.users.lockout import Lockout


class UserAuthentication:
    """Lockout first, then the configured user repository (`[flows.password] users`)."""

    def __init__(
        self, users: UserRepository, lockout: Lockout, events: Events, subject_attribute: str
    ) -> None:
        self.users = users
        self.lockout = lockout
        self.events = events
        self.subject_attribute = subject_attribute

    async def authenticate(
        self,
        username: str,
        password: str,
        *,
        client_id: str,
        attributes: MutableMapping[str, Any],
        scopes: tuple[str, ...] = (),
    ) -> User | None:
        """The user, or None for a wrong password and for a locked name alike: a locked name
        gets no password check. The name is looked up and locked out by its canonical form,
        which the repository gets; a name without one is nobody. The subject goes under
        `subject_attribute`."""
        name = canonical_or_none(username)
        user = None
        if name is not None:
            user = await self.lockout.check(
                name,
                lambda: self.users.authenticate(
                    name, password, client_id=client_id, attributes=attributes, scopes=scopes
                ),
            )
        if user is None:
            self.events.emit("user.refused", client_id=client_id, username=name or "")
            return None
        attributes[self.subject_attribute] = user.subject
        return user
