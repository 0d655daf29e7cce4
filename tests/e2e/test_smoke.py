from __future__ import annotations

import httpx
from authlib.integrations.httpx_client import OAuth2Client


def test_client_credentials_with_authlib(server):
    client, secret = server.create_client(
        "svc", grant_types=["client_credentials"], scopes=["photos.read"], can_introspect=True
    )
    token_endpoint = server.metadata()["token_endpoint"].replace(
        server.settings.effective_issuer(), server.url
    )
    with OAuth2Client(client.client_id, secret) as oauth:
        token = oauth.fetch_token(token_endpoint, grant_type="client_credentials")
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 3600
    assert token["scope"] == "photos.read"
    assert len(token["access_token"]) == 54
    assert "refresh_token" not in token

    answer = httpx.post(
        f"{server.url}/oauth2/introspect",
        data={"token": token["access_token"]},
        auth=(client.client_id, secret),
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["active"] is True
    assert body["client_id"] == client.client_id
    assert body["scope"] == "photos.read"
