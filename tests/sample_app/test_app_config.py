"""Tests of sample_app.config: environment variables to Settings, with clear errors."""

import pytest

from sample_app.config import ConfigError, Settings, load_settings

SECRET = "s" * 32


def test_settings_defaults_from_empty_environment():
    settings = load_settings({})
    assert (settings.host, settings.port, settings.database) == (
        "127.0.0.1",
        8000,
        "sample_app.sqlite3",
    )
    assert settings.secure_cookies is True
    assert settings.max_body_bytes == 16384
    assert settings.demo_user is None


def test_settings_random_secret_per_load():
    assert load_settings({}).secret_key != load_settings({}).secret_key


def test_settings_secret_hidden_from_repr():
    assert SECRET not in repr(load_settings({"SAMPLE_APP_SECRET_KEY": SECRET}))


def test_settings_values_read():
    environ = {
        "PORT": "9001",
        "SAMPLE_APP_HOST": "0.0.0.0",
        "SAMPLE_APP_DB": "/tmp/x.sqlite3",
        "SAMPLE_APP_SECRET_KEY": SECRET,
        "SAMPLE_APP_INSECURE_COOKIES": "1",
        "SAMPLE_APP_MAX_BODY_BYTES": "2048",
        "SAMPLE_APP_WORKERS": "3",
        "SAMPLE_APP_DEMO_USER": "demo",
        "SAMPLE_APP_DEMO_PASSWORD": "demo-password",
    }
    expected = Settings(
        host="0.0.0.0",
        port=9001,
        database="/tmp/x.sqlite3",
        secret_key=SECRET,
        secure_cookies=False,
        max_body_bytes=2048,
        workers=3,
        demo_user="demo",
        demo_password="demo-password",
    )
    assert load_settings(environ) == expected


def test_settings_insecure_flag_zero_keeps_secure():
    assert load_settings({"SAMPLE_APP_INSECURE_COOKIES": "0"}).secure_cookies is True


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"PORT": "0"}, "PORT='0' is invalid: use a whole number from 1 to 65535"),
        ({"PORT": "http"}, "PORT='http' is invalid"),
        ({"PORT": "-80"}, "PORT='-80' is invalid"),
        ({"SAMPLE_APP_MAX_BODY_BYTES": "99999999"}, "SAMPLE_APP_MAX_BODY_BYTES='99999999'"),
        ({"SAMPLE_APP_WORKERS": "0"}, "SAMPLE_APP_WORKERS='0' is invalid"),
        ({"SAMPLE_APP_INSECURE_COOKIES": "yes"}, "use 1 or 0"),
        ({"SAMPLE_APP_SECRET_KEY": "short"}, "SAMPLE_APP_SECRET_KEY is too short"),
        ({"SAMPLE_APP_DEMO_USER": "demo"}, "must be set together"),
        ({"SAMPLE_APP_DEMO_PASSWORD": "demo-password"}, "must be set together"),
    ],
)
def test_settings_invalid_value_named(environ, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load_settings(environ)


def test_settings_invalid_demo_account_hides_password():
    environ = {"SAMPLE_APP_DEMO_USER": "demo", "SAMPLE_APP_DEMO_PASSWORD": "tiny"}
    with pytest.raises(ConfigError) as caught:
        load_settings(environ)
    assert "password: bad length" in str(caught.value)
    assert "tiny" not in str(caught.value)
