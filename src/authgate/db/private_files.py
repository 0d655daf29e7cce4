"""Files only authgate's own user may read: the SQLite database (a copy of the registry, the
token digests and the sessions) and, beside it, the signing key file.

Each is created with mode 0600 from the start, whatever the umask, instead of being created
and then narrowed with chmod, which would leave a moment in which another user could open it.
SQLite creates a database's `-wal`, `-shm` and `-journal` files with the mode of the database
file itself (`findCreateFileMode` and `unixOpenSharedMemory` in its unix VFS), so a private
database keeps its companions private too.
"""

from __future__ import annotations

import os

PRIVATE_MODE = 0o600


def create_private_file(path: str | os.PathLike[str]) -> bool:
    """Create `path`, empty, with mode 0600, unless it exists; True if it was created here.

    An existing file is left as it is. A path that cannot be created (no such folder, no
    permission) is left to the code that opens it next, which reports it as it always has.
    """
    try:
        # O_EXCL: never an existing file, nor one a symbolic link points to.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
    except OSError:
        return False
    os.close(descriptor)
    return True


def create_private_database(path: str) -> None:
    """A SQLite database file created private (an empty file is an empty database)."""
    if path and path != ":memory:" and not path.startswith("file:"):
        create_private_file(path)
