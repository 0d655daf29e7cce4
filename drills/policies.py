"""The user policy of the outage drill, named in configuration as `drills.policies:user`.

It hangs while the file named by DRILLS_POLICY_HANG exists, as a policy whose own backend
stopped answering would; otherwise it knows the drill's two users.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from authgate.policies import PolicyRequest

PASSWORDS = {"alice": "alice-password", "bob": "bob-password"}
HANG_FILE = "DRILLS_POLICY_HANG"


async def user(request: PolicyRequest) -> str | None:
    flag = Path(os.environ.get(HANG_FILE) or "/nonexistent")
    # The flag is a file the drill (another process) sets: polled, as no event can cross.
    while await asyncio.to_thread(flag.exists):  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    if request.username is not None and PASSWORDS.get(request.username) == request.password:
        return request.username
    return None
