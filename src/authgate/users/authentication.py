"""The one door for resource owners, shared by the login page and the password grant."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from authgate.events import Events
from authgate.models import User
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
        gets no password check. The subject goes under `subject_attribute`."""
        user = await self.lockout.check(
            username,
            lambda: self.users.authenticate(
                username, password, client_id=client_id, attributes=attributes, scopes=scopes
            ),
        )
        if user is None:
            self.events.emit("user.refused", client_id=client_id, username=username)
            return None
        attributes[self.subject_attribute] = user.subject
        return user
