"""Input validation for every endpoint: type, length, range, format, and no unknown fields."""

import dataclasses
import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

USERNAME_PATTERN = re.compile(r"[A-Za-z0-9_.-]{3,32}")
PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 128
TITLE_MAX_LENGTH = 200
BODY_MAX_LENGTH = 10_000
QUERY_MAX_LENGTH = 100
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_OFFSET = 100_000
CREDENTIAL_RULES = (
    "a username is 3 to 32 letters, digits, '_', '.' or '-', and a password is "
    f"{PASSWORD_MIN_LENGTH} to {PASSWORD_MAX_LENGTH} characters"
)

# Line breaks and tabs are ordinary text in a note body; every other control character is not.
BODY_ALLOWED_CONTROLS = frozenset("\n\r\t")


class ValidationError(ValueError):
    """One input value breaks a rule. ``field`` and ``reason`` go to the audit log only."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclasses.dataclass(frozen=True)
class NoteQuery:
    """The checked query string of ``GET /api/notes``."""

    text: str = ""
    limit: int = DEFAULT_LIMIT
    offset: int = 0


def require_json_object(payload: Any) -> dict:
    """Return ``payload`` when it is a JSON object, else raise ValidationError."""
    if not isinstance(payload, dict):
        raise ValidationError("body", "not a JSON object")
    return payload


def check_fields(data: Mapping[str, Any], required: Iterable[str], allowed: Iterable[str]):
    """Raise ValidationError for a missing required field or any field not in ``allowed``."""
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ValidationError(unknown[0], "unknown field")

    for name in required:
        if name not in data:
            raise ValidationError(name, "missing")


def validate_credentials(data: Mapping[str, Any]) -> tuple[str, str]:
    """Check a username and password pair and return them."""
    check_fields(data, ("username", "password"), ("username", "password"))

    username = _require_string(data, "username")
    if not USERNAME_PATTERN.fullmatch(username):
        raise ValidationError("username", "bad format")

    password = _require_string(data, "password")
    if not PASSWORD_MIN_LENGTH <= len(password) <= PASSWORD_MAX_LENGTH:
        raise ValidationError("password", "bad length")
    if _has_control_characters(password, frozenset()):
        raise ValidationError("password", "control character")

    return username, password


def validate_login_form(form: Mapping[str, Any]) -> tuple[str, str]:
    """Check the HTML login form (username, password, csrf_token) and return the credentials."""
    check_fields(form, ("csrf_token",), ("username", "password", "csrf_token"))
    _reject_repeated(form)
    credentials = {name: form[name] for name in ("username", "password") if name in form}
    return validate_credentials(credentials)


def validate_note(data: Mapping[str, Any]) -> tuple[str, str]:
    """Check a note's title and body and return them."""
    check_fields(data, ("title", "body"), ("title", "body"))

    title = _require_string(data, "title")
    if not 1 <= len(title) <= TITLE_MAX_LENGTH:
        raise ValidationError("title", "bad length")
    if title.strip() == "":
        raise ValidationError("title", "blank")
    if _has_control_characters(title, frozenset()):
        raise ValidationError("title", "control character")

    body = _require_string(data, "body")
    if len(body) > BODY_MAX_LENGTH:
        raise ValidationError("body", "bad length")
    if _has_control_characters(body, BODY_ALLOWED_CONTROLS):
        raise ValidationError("body", "control character")

    return title, body


def validate_note_query(args: Mapping[str, Any]) -> NoteQuery:
    """Check the ``q``, ``limit`` and ``offset`` query parameters of the note list."""
    check_fields(args, (), ("q", "limit", "offset"))
    _reject_repeated(args)

    text = args.get("q", "")
    if len(text) > QUERY_MAX_LENGTH:
        raise ValidationError("q", "bad length")
    if _has_control_characters(text, frozenset()):
        raise ValidationError("q", "control character")

    limit = _parse_bounded_int(args, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = _parse_bounded_int(args, "offset", 0, 0, MAX_OFFSET)
    return NoteQuery(text=text, limit=limit, offset=offset)


def _require_string(data: Mapping[str, Any], name: str) -> str:
    value = data[name]
    if not isinstance(value, str):
        raise ValidationError(name, "not a string")
    return value


def _has_control_characters(text: str, allowed: frozenset) -> bool:
    return any(unicodedata.category(char) in ("Cc", "Cs") and char not in allowed for char in text)


def _reject_repeated(args: Mapping[str, Any]):
    # Werkzeug's MultiDict keeps every value of a repeated parameter; a plain dict has one.
    getlist = getattr(args, "getlist", None)
    if getlist is None:
        return
    for name in args:
        if len(getlist(name)) > 1:
            raise ValidationError(name, "repeated")


def _parse_bounded_int(args: Mapping[str, Any], name: str, default: int, low: int, high: int):
    raw = args.get(name)
    if raw is None:
        return default

    # isdigit() alone accepts non-ASCII digits such as '²', which int() rejects.
    if not raw.isascii() or not raw.isdigit() or len(raw) > 7:
        raise ValidationError(name, "not a whole number")

    value = int(raw)
    if not low <= value <= high:
        raise ValidationError(name, "out of range")
    return value
