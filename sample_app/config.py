"""Settings read from the environment, checked once at start."""

import dataclasses
import secrets
from collections.abc import Mapping

from . import validation

DEFAULT_PORT = 8000
DEFAULT_HOST = "127.0.0.1"
DEFAULT_DATABASE = "sample_app.sqlite3"
DEFAULT_MAX_BODY_BYTES = 16384
MAX_BODY_BYTES_LIMIT = 10 * 1024 * 1024
DEFAULT_WORKERS = 2
MAX_WORKERS = 32


class ConfigError(ValueError):
    """An environment variable contains a value the app cannot use."""


# One field per environment variable reads better here than nested groups of settings.
@dataclasses.dataclass(frozen=True)
class Settings:  # pylint: disable=too-many-instance-attributes
    """The app's runtime settings; see ``load_settings`` for the environment variables."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    database: str = DEFAULT_DATABASE
    secret_key: str = dataclasses.field(default_factory=lambda: secrets.token_hex(32), repr=False)
    secure_cookies: bool = True
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    workers: int = DEFAULT_WORKERS
    demo_user: str | None = None
    demo_password: str | None = dataclasses.field(default=None, repr=False)


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Build Settings from environment variables, raising ConfigError on an invalid value.

    Variables: PORT, SAMPLE_APP_HOST, SAMPLE_APP_DB, SAMPLE_APP_SECRET_KEY (a random key per
    process when unset), SAMPLE_APP_INSECURE_COOKIES (1 drops the Secure cookie flag for plain-HTTP
    local runs), SAMPLE_APP_MAX_BODY_BYTES, SAMPLE_APP_WORKERS, and SAMPLE_APP_DEMO_USER with
    SAMPLE_APP_DEMO_PASSWORD (seed one account at start so scanners can log in).
    """
    defaults = Settings()

    secret_key = environ.get("SAMPLE_APP_SECRET_KEY") or defaults.secret_key
    if len(secret_key) < 32:
        raise ConfigError(
            "SAMPLE_APP_SECRET_KEY is too short: use at least 32 characters, "
            "or unset it for a random key per process"
        )

    demo_user, demo_password = _read_demo_account(environ)

    return Settings(
        host=environ.get("SAMPLE_APP_HOST") or DEFAULT_HOST,
        port=_read_int(environ, "PORT", DEFAULT_PORT, 1, 65535),
        database=environ.get("SAMPLE_APP_DB") or DEFAULT_DATABASE,
        secret_key=secret_key,
        secure_cookies=_read_insecure_flag(environ) is False,
        max_body_bytes=_read_int(
            environ, "SAMPLE_APP_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES, 1, MAX_BODY_BYTES_LIMIT
        ),
        workers=_read_int(environ, "SAMPLE_APP_WORKERS", DEFAULT_WORKERS, 1, MAX_WORKERS),
        demo_user=demo_user,
        demo_password=demo_password,
    )


def _read_int(environ: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default

    if not raw.isascii() or not raw.isdigit() or not low <= int(raw) <= high:
        raise ConfigError(f"{name}={raw!r} is invalid: use a whole number from {low} to {high}")
    return int(raw)


def _read_insecure_flag(environ: Mapping[str, str]) -> bool:
    raw = environ.get("SAMPLE_APP_INSECURE_COOKIES", "")
    if raw in ("", "0"):
        return False
    if raw == "1":
        return True
    raise ConfigError(f"SAMPLE_APP_INSECURE_COOKIES={raw!r} is invalid: use 1 or 0")


def _read_demo_account(environ: Mapping[str, str]) -> tuple[str | None, str | None]:
    user = environ.get("SAMPLE_APP_DEMO_USER") or None
    password = environ.get("SAMPLE_APP_DEMO_PASSWORD") or None
    if user is None and password is None:
        return None, None

    if user is None or password is None:
        raise ConfigError("SAMPLE_APP_DEMO_USER and SAMPLE_APP_DEMO_PASSWORD must be set together")

    try:
        return validation.validate_credentials({"username": user, "password": password})
    except validation.ValidationError as error:
        # The password value itself never goes into the message.
        raise ConfigError(
            f"the demo account is invalid ({error.field}: {error.reason}); "
            f"{validation.CREDENTIAL_RULES}"
        ) from error
