"""How the console reads a form post and turns an operation's refusal into a form error."""

from __future__ import annotations

from authgate.operations import Conflict, Invalid, NotFound
from authgate.pages.console.base import FormError, PostedForm


def test_a_posted_form_keeps_every_value_of_a_checkbox_group():
    form = PostedForm(b"grant_types=password&grant_types=&grant_types=client_credentials&x=1")
    assert form.all("grant_types") == ["password", "client_credentials"]
    assert form.get("x") == "1"
    assert form.get("absent") == "" and form.all("absent") == []
    assert not form.is_checked("public")


def test_a_password_keeps_its_spaces_a_name_does_not():
    form = PostedForm(b"password=+secret+&name=+Billing+&uris=a%0D%0A%0D%0A+b+&scopes=+x++y+")
    assert form.get("password") == " secret "
    assert form.text("name") == "Billing"
    assert form.lines("uris") == ["a", "b"]
    assert form.words("scopes") == ["x", "y"]


def test_a_form_with_too_many_fields_reads_as_empty():
    form = PostedForm(b"&".join(b"f%d=1" % n for n in range(500)) + b"&csrf_token=t")
    assert form.get("csrf_token") == ""  # so the CSRF check refuses it


def test_errors_name_the_input_at_fault():
    invalid = FormError.of(Invalid("redirect_uris.2", "Value error, 'x' must be absolute"))
    assert invalid == FormError(422, "'x' must be absolute", "redirect_uris")
    assert FormError.of(Conflict("user alice already exists"), conflict_field="username") == (
        FormError(409, "user alice already exists", "username")
    )
    assert FormError.of(NotFound("no client x")).status == 404
