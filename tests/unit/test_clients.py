from __future__ import annotations

import base64

import pytest

from authgate.clients import auth_methods, hash_secret, read_credentials, verify_client
from authgate.config import ClientAuthSettings
from authgate.errors import OAuthError
from authgate.forms import Form
from authgate.models import Client


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


CONFIDENTIAL = Client("app", "App", hash_secret("s e:cret%"))
PUBLIC = Client("spa", "SPA", None, is_public=True)


def test_basic_credentials_are_form_decoded():
    # RFC 6749 section 2.3.1: id and secret are form-urlencoded before base64.
    credentials = read_credentials(
        {"authorization": basic("app", "s+e%3Acret%25")}, Form([]), ClientAuthSettings()
    )
    assert (credentials.client_id, credentials.secret) == ("app", "s e:cret%")
    assert verify_client(CONFIDENTIAL, credentials) is CONFIDENTIAL


def test_wrong_secret_via_header_is_401_with_challenge():
    credentials = read_credentials(
        {"authorization": basic("app", "nope")}, Form([]), ClientAuthSettings()
    )
    with pytest.raises(OAuthError) as caught:
        verify_client(CONFIDENTIAL, credentials)
    assert caught.value.code == "invalid_client"
    assert caught.value.status == 401
    assert caught.value.headers["WWW-Authenticate"].startswith('Basic realm="')


def test_body_credentials_refused_when_header_only():
    form = Form([("client_id", "app"), ("client_secret", "x")])
    with pytest.raises(OAuthError) as caught:
        read_credentials({}, form, ClientAuthSettings())
    assert caught.value.code == "invalid_client"
    assert "WWW-Authenticate" not in caught.value.headers


def test_body_field_names_are_configurable():
    settings = ClientAuthSettings(
        location="body", client_id_field="key", client_secret_field="pass"
    )
    form = Form([("key", "app"), ("pass", "s e:cret%")])
    credentials = read_credentials({}, form, settings)
    assert verify_client(CONFIDENTIAL, credentials) is CONFIDENTIAL


def test_both_header_and_body_secret_is_invalid_request():
    form = Form([("client_secret", "x")])
    with pytest.raises(OAuthError) as caught:
        read_credentials(
            {"authorization": basic("app", "x")}, form, ClientAuthSettings(location="any")
        )
    assert caught.value.code == "invalid_request"


def test_public_client_sends_only_its_id():
    credentials = read_credentials({}, Form([("client_id", "spa")]), ClientAuthSettings())
    assert verify_client(PUBLIC, credentials) is PUBLIC
    with pytest.raises(OAuthError):
        verify_client(
            CONFIDENTIAL, read_credentials({}, Form([("client_id", "app")]), ClientAuthSettings())
        )


@pytest.mark.parametrize(
    "header",
    ["Basic", "Basic !!!", "Bearer abc", "Basic " + base64.b64encode(b"no-colon").decode()],
)
def test_malformed_authorization_is_invalid_client(header):
    with pytest.raises(OAuthError) as caught:
        read_credentials({"authorization": header}, Form([]), ClientAuthSettings())
    assert caught.value.code == "invalid_client"
    assert caught.value.status == 401


def test_metadata_lists_only_accepted_methods():
    assert auth_methods(ClientAuthSettings()) == ["client_secret_basic", "none"]
    assert auth_methods(ClientAuthSettings(location="body")) == ["client_secret_post", "none"]


def test_a_client_row_reads_back_as_the_same_client():
    from authgate.client_rows import CLIENT_COLUMNS, client_from_row, client_values
    from authgate.models import Client

    client = Client(
        client_id="c1",
        name="Photos",
        secret_hash="ab" * 32,
        redirect_uris=("https://app.example/cb",),
        scopes=("photos.read", "openid"),
        grant_types=("authorization_code", "client_credentials"),
        can_introspect=True,
        created_at=1700000000,
        previous_secret_hash="cd" * 32,
        previous_secret_expires_at=1700000600,
        auth_method="tls_client_auth",
        tls_subject_dn="CN=photos",
        app_id="app-1",
        environment="sandbox",
    )
    values = client_values(client)
    assert list(values) == CLIENT_COLUMNS.split(", ")
    assert client_from_row(list(values.values())) == client
