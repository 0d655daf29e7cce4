"""The server runs on the runtime dependencies alone: httpx is the `demo` extra, aiohttp the
`bench` extra, and no module of authgate imports either at import time."""

from __future__ import annotations

import subprocess
import sys

# Every module imported with httpx and aiohttp made unimportable, then an app built without
# the playground. The Alembic environment runs only inside Alembic, so it is left out.
PROBE = """\
import importlib, pkgutil, sys
sys.modules['httpx'] = None
sys.modules['aiohttp'] = None
import authgate
names = [m.name for m in pkgutil.walk_packages(authgate.__path__, 'authgate.')
         if m.name != 'authgate.db.migrations.env' and not m.name.endswith('.__main__')]
for name in names:
    importlib.import_module(name)
from authgate.app import create_app
from authgate.config import Settings
create_app(Settings())
print(len(names))
"""


def test_every_module_imports_without_the_optional_extras():
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert int(result.stdout) > 50  # the walk found the package, not an empty path
