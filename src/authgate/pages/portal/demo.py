"""`authgate serve --demo`: the demo user is a developer with one application and sandbox
keys ready for Try it, so the portal shows something in one command."""

from __future__ import annotations

from authgate.oidc import OPENID
from authgate.operations import Caller, applications
from authgate.pages.portal.keys import try_it_callback
from authgate.services import Services

APPLICATION = "Photo frame"


async def seed(services: Services, username: str, scopes: tuple[str, ...]) -> None:
    """The demo user's application (made once) and a fresh sandbox secret, printed once."""
    if not services.settings.portal.enabled:
        return
    caller = Caller("cli", username)  # the demo set-up acts for the user, as an operator
    owned = await applications.list_applications(services, username)
    if owned:
        app = owned[0]
    else:
        request = applications.ApplicationCreate(
            name=APPLICATION, description="The demo developer's application"
        )
        app = await applications.create_application(services, caller, request)
    if app.keys["sandbox"] is None:
        key = applications.KeyCreate(
            redirect_uris=[try_it_callback(services)],
            grant_types=["authorization_code", "refresh_token"],
            scopes=[*scopes, OPENID],
        )
        created = await applications.create_key(services, caller, app.app_id, "sandbox", key)
        client_id, secret = created.client_id, created.client_secret
    else:
        rotated = await applications.rotate_key_secret(services, caller, app.app_id, "sandbox")
        client_id, secret = rotated.client_id, rotated.client_secret
    print(
        f"authgate demo: the developer portal is {services.issuer}/portal (same user)\n"
        f"  application:   {app.name}\n"
        f"  sandbox key:   {client_id}\n"
        f"  sandbox secret: {secret}  (for Try it)",
        flush=True,
    )
