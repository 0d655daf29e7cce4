"""Signing keys: sealed at rest under the key file, cached per process, rotated everywhere.

Two `Services` on one SQLite file stand for two processes, each mapping the change counter
on its own (as tests/unit/test_client_cache.py does for clients).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import shutil
import stat
from pathlib import Path

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from sqlalchemy import select

from authgate.config import Settings
from authgate.db.schema import signing_keys
from authgate.errors import ConfigError
from authgate.models import TokenRecord
from authgate.oidc import InvalidToken
from authgate.services import Services

pytestmark = pytest.mark.anyio


async def open_services(path: Path, **oidc: object) -> Services:
    return await Services.open(
        Settings.model_validate({"storage": {"url": f"sqlite:///{path}"}, "oidc": oidc})
    )


async def test_the_first_key_is_made_on_first_use_with_a_private_key_file(tmp_path):
    services = await open_services(tmp_path / "a.db")
    try:
        assert not (tmp_path / "authgate.key").exists()  # nothing before it is needed
        document = await services.oidc.ring.jwks()
        key_file = tmp_path / "authgate.key"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        [key] = document["keys"]
        assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["use"] == "sig"
        assert key["kid"] and "d" not in key and "p" not in key
        token = await services.oidc.ring.sign({"typ": "JWT"}, {"sub": "alice"})
        public = KeySet.import_key_set(document)  # type: ignore[arg-type]  # a JWKS dict
        decoded = jwt.decode(token, public, algorithms=["RS256"])
        assert decoded.header["kid"] == key["kid"] and decoded.claims == {"sub": "alice"}
    finally:
        await services.close()


async def test_es256_by_setting(tmp_path):
    services = await open_services(tmp_path / "a.db", signing_alg="ES256")
    try:
        [key] = (await services.oidc.ring.jwks())["keys"]
        assert key["kty"] == "EC" and key["crv"] == "P-256" and key["alg"] == "ES256"
        token = await services.oidc.ring.sign({}, {"sub": "alice"})
        assert (await services.oidc.ring.verify(token)).header["alg"] == "ES256"
    finally:
        await services.close()


async def test_the_private_key_is_sealed_in_the_database(tmp_path):
    services = await open_services(tmp_path / "a.db")
    try:
        await services.oidc.ring.jwks()
        async with services.registry.transaction() as conn:
            row = (await conn.execute(select(signing_keys))).one()
        assert '"d"' not in row.private_key and "PRIVATE" not in row.private_key
        assert "d" not in json.loads(row.public_key)
    finally:
        await services.close()


async def test_a_copy_of_the_database_without_the_key_file_signs_nothing(tmp_path):
    services = await open_services(tmp_path / "a.db")
    try:
        await services.oidc.ring.jwks()
    finally:
        await services.close()
    stolen = tmp_path / "stolen"
    stolen.mkdir()
    shutil.copy(tmp_path / "a.db", stolen / "a.db")
    thief = await open_services(stolen / "a.db")  # a new key file appears beside the copy
    try:
        with pytest.raises(ConfigError, match=r"oidc\.key_file"):
            await thief.oidc.ring.sign({}, {"sub": "mallory"})
    finally:
        await thief.close()


async def test_rotation_in_one_process_is_current_at_once_in_another(tmp_path):
    here = await open_services(tmp_path / "a.db")
    there = await open_services(tmp_path / "a.db")
    try:
        old = await here.oidc.ring.sign({}, {"sub": "alice"})
        old_kid = (await here.oidc.ring.verify(old)).header["kid"]
        new_key = await there.oidc.ring.rotate()
        signed = await here.oidc.ring.sign({}, {"sub": "alice"})
        assert (await here.oidc.ring.verify(signed)).header["kid"] == new_key.kid
        kids = [key["kid"] for key in (await here.oidc.ring.jwks())["keys"]]
        assert kids == [new_key.kid, old_kid]  # the old key stays published
        assert (await there.oidc.ring.verify(old)).claims["sub"] == "alice"
    finally:
        await here.close()
        await there.close()


async def test_signing_reads_no_registry_row_once_loaded(tmp_path):
    services = await open_services(tmp_path / "a.db")
    try:
        await services.oidc.ring.sign({}, {})  # makes the first key
        await services.oidc.ring.sign({}, {})  # reads it back once
        reads = 0
        original = services.oidc.keys.all

        async def counting():
            nonlocal reads
            reads += 1
            return await original()

        services.oidc.keys.all = counting  # type: ignore[method-assign]  # count the reads
        for _ in range(20):
            await services.oidc.ring.verify(await services.oidc.ring.sign({}, {"n": 1}))
        assert reads == 0
    finally:
        await services.close()


async def test_a_key_past_its_retention_is_no_longer_published(tmp_path):
    services = await open_services(tmp_path / "a.db", key_retention=1)
    try:
        old = await services.oidc.ring.sign({}, {"sub": "alice"})
        await services.oidc.ring.rotate()
        async with services.registry.transaction() as conn:  # retired two seconds ago
            await conn.execute(
                signing_keys.update()
                .where(signing_keys.c.retired_at.is_not(None))
                .values(retired_at=signing_keys.c.retired_at - 2)
            )
        services.oidc.ring._loaded = None  # as after the ring's MAX_AGE
        assert len((await services.oidc.ring.jwks())["keys"]) == 1
        with pytest.raises(InvalidToken):
            await services.oidc.ring.verify(old)
    finally:
        await services.close()


@pytest.mark.parametrize(
    "token",
    [
        "",
        "a.b.c",
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJtYWxsb3J5In0.",  # alg none
        "not a jwt",
    ],
)
async def test_garbage_and_alg_none_are_refused(tmp_path, token):
    services = await open_services(tmp_path / "a.db")
    try:
        with pytest.raises(InvalidToken):
            await services.oidc.ring.verify(token)
    finally:
        await services.close()


async def test_hs256_signed_with_the_public_key_is_refused(tmp_path):
    """The classic algorithm confusion: the published RSA key used as an HMAC secret."""
    services = await open_services(tmp_path / "a.db")
    try:
        [key] = (await services.oidc.ring.jwks())["keys"]
        public = RSAKey.import_key(key).as_pem(private=False)

        def b64(data: bytes) -> bytes:
            return base64.urlsafe_b64encode(data).rstrip(b"=")

        header = b64(json.dumps({"alg": "HS256", "kid": key["kid"]}).encode())
        signing_input = header + b"." + b64(b'{"sub":"mallory"}')
        signature = b64(hmac.new(public, signing_input, hashlib.sha256).digest())
        with pytest.raises(InvalidToken):
            await services.oidc.ring.verify((signing_input + b"." + signature).decode())
    finally:
        await services.close()


async def test_a_certificate_bound_jwt_access_token_carries_cnf(tmp_path):
    # RFC 8705 section 3.1: the thumbprint goes into the JWT as it goes into introspection.
    services = await open_services(tmp_path / "a.db")
    try:
        bound = TokenRecord(
            kind="access_token",
            client_id="c1",
            grant_id="g1",
            scopes=("read",),
            issued_at=1,
            expires_at=2**40,
            subject="c1",
            cnf={"x5t#S256": "thumb"},
        )
        unbound = dataclasses.replace(bound, cnf={})
        tokens = services.oidc.access_tokens
        audience = sorted(tokens.audiences)[0]
        claims = await tokens.verify(await tokens.encode(bound, audience))
        assert claims["cnf"] == {"x5t#S256": "thumb"}
        assert "cnf" not in await tokens.verify(await tokens.encode(unbound, audience))
    finally:
        await services.close()
