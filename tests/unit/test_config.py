from __future__ import annotations

import json

import pytest

import authgate
from authgate.config import load_settings
from authgate.errors import ConfigError


def test_public_names_match_all():
    import types

    helpers = {"TYPE_CHECKING", "Any"}
    exported = (
        {
            name
            for name, value in vars(authgate).items()
            if not name.startswith("_") and not isinstance(value, types.ModuleType)
        }
        - helpers
        - {"create_app"}
    )  # create_app is loaded on first use
    assert exported == set(authgate.__all__) - {"__version__", "create_app"}
    assert all(getattr(authgate, name) is not None for name in authgate.__all__)
    assert authgate.create_app.__module__ == "authgate.app"


def test_defaults_are_the_seeds():
    settings = load_settings(environ={})
    assert settings.tokens.access_token_expiry == 3600
    assert settings.tokens.access_token_length == 54
    assert settings.tokens.access_token_type == "Bearer"
    assert settings.tokens.refresh == "new"
    assert settings.tokens.refresh_token_expiry == 43200
    assert settings.tokens.refresh_token_length == 46
    assert settings.authorization_code.code_length == 30
    assert settings.authorization_code.code_expiry == 600
    assert settings.client_auth.location == "header"
    assert settings.client_auth.client_id_field == "client_id"
    assert settings.client_auth.client_secret_field == "client_secret"
    assert settings.flows.password.subject_attribute == "authentication.subject.id"
    assert settings.flows.password.scopes == "any"
    assert settings.flows.password.scopes_attribute == "scopes.for.token"
    assert settings.monitoring.enabled is True
    assert settings.monitoring.client_attribute == "authentication.subject.id"
    assert settings.monitoring.record_outbound is True
    assert settings.lockout.max_failures == 10
    assert settings.storage.url == "sqlite:///authgate.db"
    assert settings.effective_issuer() == "http://127.0.0.1:8080"


def test_flow_overrides_lay_over_tokens(tmp_path):
    path = tmp_path / "a.toml"
    path.write_text(
        '[tokens]\naccess_token_expiry = 100\nrefresh = "preserve"\n'
        '[flows.password.tokens]\nrefresh = "none"\n'
        '[flows.client_credentials.tokens]\nrefresh = "new"\n'
    )
    settings = load_settings(path, environ={})
    assert settings.token_settings("password").refresh == "none"
    assert settings.token_settings("password").access_token_expiry == 100
    assert settings.token_settings("refresh_token").refresh == "preserve"
    assert settings.token_settings("client_credentials").refresh == "new"


def test_client_credentials_issue_no_refresh_token_by_default():
    # RFC 6749 section 4.4.3
    settings = load_settings(environ={})
    assert settings.token_settings("client_credentials").refresh == "none"


def test_environment_overrides_file(tmp_path):
    path = tmp_path / "a.toml"
    path.write_text('[storage]\nurl = "sqlite:///one.db"\n')
    settings = load_settings(
        path,
        environ={
            "AUTHGATE_STORAGE__URL": "sqlite:///two.db",
            "AUTHGATE_TOKENS__ACCESS_TOKEN_EXPIRY": "60",
        },
    )
    assert settings.storage.url == "sqlite:///two.db"
    assert settings.tokens.access_token_expiry == 60


def test_config_file_from_environment(tmp_path):
    path = tmp_path / "a.toml"
    path.write_text('issuer = "https://auth.example"\n')
    settings = load_settings(environ={"AUTHGATE_CONFIG": str(path)})
    assert settings.effective_issuer() == "https://auth.example"


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ("colour = 1", "colour: unknown key"),
        ("[tokens]\naccess_token_length = 8", "tokens.access_token_length"),
        ("[tokens]\naccess_token_expiry = 0", "tokens.access_token_expiry"),
        ("[tokens]\naccess_token_expiry = 'soon'", "tokens.access_token_expiry"),
        ("[flows.password]\nscopes = 'some'", "flows.password.scopes"),
        ("[flows.password.tokens]\nrefresh = 'maybe'", "flows.password.tokens.refresh"),
        ("[client_auth]\nlocation = 'cookie'", "client_auth.location"),
        ("[storage]\nurl = 'memory://'", "storage.url"),
        ("[authorization_code]\ncode_length = 15", "authorization_code.code_length"),
        ("[ldap]\nuser_filter = '(uid=x)'", "ldap.user_filter"),
        ("[[gateway.routes]]\npath = 'api'\nupstream = 'http://x'", "gateway.routes.0.path"),
        ("[flows.password]\nusers = 'policy'", "flows.password"),
        ("[server]\nforwarded_allow_ips = ['proxy.local']", "server.forwarded_allow_ips.0"),
        ("[server]\nclient_certificate_header = 'X Cert'", "server.client_certificate_header"),
        ("[server]\ntls_certificate = 'a.pem'", "tls_private_key"),
    ],
)
def test_bad_values_name_the_key(tmp_path, toml, key):
    path = tmp_path / "bad.toml"
    path.write_text(toml + "\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    message = str(caught.value)
    assert key in message
    assert "\n" not in message


def test_invalid_toml_is_one_line(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[tokens\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(path, environ={})


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", environ={})


def test_short_lengths_warn(tmp_path, caplog):
    path = tmp_path / "a.toml"
    path.write_text("[tokens]\naccess_token_length = 20\n")
    load_settings(path, environ={})
    assert "access_token_length" in caplog.text


def test_issuer_from_environment():
    settings = load_settings(environ={"AUTHGATE_ISSUER": "https://id.example"})
    assert settings.effective_issuer() == "https://id.example"


def test_secrets_never_show_in_a_dump(tmp_path):
    path = tmp_path / "a.toml"
    path.write_text('[ldap]\nbind_dn = "cn=reader"\nbind_password = "hunter2-file"\n')
    settings = load_settings(path, environ={})
    assert settings.ldap.bind_password.get_secret_value() == "hunter2-file"
    dumps = [
        repr(settings),
        str(settings),
        repr(settings.ldap),
        settings.model_dump_json(),
        json.dumps(settings.model_dump(mode="json")),
        str(settings.model_dump()),
    ]
    for dump in dumps:
        assert "hunter2" not in dump
        assert "cn=reader" in dump  # the dump is there, only the secret is masked
    from_env = load_settings(path, environ={"AUTHGATE_LDAP__BIND_PASSWORD": "hunter2-env"})
    assert from_env.ldap.bind_password.get_secret_value() == "hunter2-env"
    assert "hunter2" not in repr(from_env)


def test_trusted_proxies_are_addresses_networks_or_everyone(tmp_path):
    path = tmp_path / "proxies.toml"
    path.write_text(
        "[server]\nforwarded_allow_ips = ['*', '10.0.0.0/8', '::1', ' 192.0.2.7 ']\n"
        "client_certificate_header = 'X-Client-Cert'\n"
    )
    server = load_settings(path, environ={}).server
    assert server.forwarded_allow_ips == ["*", "10.0.0.0/8", "::1", "192.0.2.7"]
    assert server.client_certificate_header == "X-Client-Cert"
