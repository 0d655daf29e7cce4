"""A real OpenLDAP `slapd` on a free loopback port, in a temporary directory.

The directory holds dc=example,dc=org with ou=people and the users of USERS, among them one
whose uid is full of filter metacharacters and two entries that share a uid.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import require_backend

SUFFIX = "dc=example,dc=org"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PASSWORD = "admin-secret"
PEOPLE = f"ou=people,{SUFFIX}"
WEIRD = "a*(b)\\c"  # RFC 4515 metacharacters: * ( ) and backslash
USERS = {  # uid -> password
    "alice": "alice-password",
    "bob": "bob-password",
    WEIRD: "weird-password",
}
CAPITALISED = "Carol"  # the directory stores this uid with a capital; logins fold it
CAPITALISED_PASSWORD = "carol-password"
TWIN = "twin"  # two entries carry this uid: ambiguous, so nobody logs in as it
TWIN_PASSWORD = "twin-password"
SCHEMAS = ("core", "cosine", "inetorgperson")


def _binary(name: str, *places: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    return next((p for p in places if Path(p).exists()), None)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _ldif() -> str:
    entries = [
        f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: Example\n"
        "dc: example\n",
        f"dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people\n",
    ]
    people = [(f"user{i}", uid, password) for i, (uid, password) in enumerate(USERS.items())]
    people += [("twin1", TWIN, TWIN_PASSWORD), ("twin2", TWIN, TWIN_PASSWORD)]
    people += [("carol", CAPITALISED, CAPITALISED_PASSWORD)]
    for cn, uid, password in people:
        # The RDN is a plain cn, so the uid needs no DN escaping; LDIF takes it verbatim.
        entries.append(
            f"dn: cn={cn},{PEOPLE}\nobjectClass: inetOrgPerson\ncn: {cn}\nsn: {cn}\n"
            f"uid: {uid}\nuserPassword: {password}\n"
        )
    return "\n".join(entries)


@dataclass
class Slapd:
    """A running slapd; `stop()` and `start()` simulate an outage on the same port."""

    directory: Path
    port: int = field(default_factory=_free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    def start(self) -> None:
        slapd = _binary("slapd", "/usr/sbin/slapd")
        assert slapd is not None
        log = (self.directory / "slapd.log").open("ab")
        self.process = subprocess.Popen(
            [slapd, "-f", str(self.directory / "slapd.conf"), "-h", f"{self.url}/", "-d", "0"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"slapd exited: {(self.directory / 'slapd.log').read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("slapd did not start listening")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None


@contextlib.contextmanager
def start_slapd(directory: Path) -> Iterator[Slapd]:
    slapd = _binary("slapd", "/usr/sbin/slapd")
    ldapadd = _binary("ldapadd")
    if slapd is None or ldapadd is None:
        require_backend("ldap", "slapd and ldapadd (Debian: slapd, ldap-utils) are not installed")
    schema_dir = Path("/etc/ldap/schema")
    module_dir = next(
        (
            p
            for p in ("/usr/lib/ldap", "/usr/lib64/openldap", "/usr/lib/openldap")
            if Path(p).exists()
        ),
        None,
    )
    if not all((schema_dir / f"{name}.schema").exists() for name in SCHEMAS):
        require_backend("ldap", f"the OpenLDAP schema files are not in {schema_dir}")
    (directory / "db").mkdir()
    config = [f"include {schema_dir / name}.schema" for name in SCHEMAS]
    config += [f"pidfile {directory / 'slapd.pid'}"]
    if module_dir is not None:
        config += [f"modulepath {module_dir}", "moduleload back_mdb"]
    config += [
        "database mdb",
        "maxsize 10485760",
        f'suffix "{SUFFIX}"',
        f'rootdn "{ROOT_DN}"',
        f"rootpw {ROOT_PASSWORD}",
        f"directory {directory / 'db'}",
    ]
    (directory / "slapd.conf").write_text("\n".join(config) + "\n")
    (directory / "people.ldif").write_text(_ldif())
    server = Slapd(directory)
    server.start()
    try:
        subprocess.run(
            [
                ldapadd,
                "-x",
                "-H",
                server.url,
                "-D",
                ROOT_DN,
                "-w",
                ROOT_PASSWORD,
                "-f",
                str(directory / "people.ldif"),
            ],
            check=True,
            capture_output=True,
            timeout=30,
        )
        yield server
    finally:
        server.stop()
