"""Tests of sample_app.validation: type, length, range, format and unknown-field checks."""

import pytest
from werkzeug.datastructures import MultiDict

from sample_app import validation
from sample_app.validation import ValidationError


def rejected_field(check, data):
    with pytest.raises(ValidationError) as caught:
        check(data)
    return caught.value.field, caught.value.reason


def test_credentials_valid_pair_returned():
    result = validation.validate_credentials({"username": "a.b_c-1", "password": "x" * 8})
    assert result == ("a.b_c-1", "x" * 8)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"username": "al", "password": "long enough"}, ("username", "bad format")),
        ({"username": "a" * 33, "password": "long enough"}, ("username", "bad format")),
        ({"username": "al ice", "password": "long enough"}, ("username", "bad format")),
        ({"username": "alice'--", "password": "long enough"}, ("username", "bad format")),
        ({"username": "alice\n", "password": "long enough"}, ("username", "bad format")),
        ({"username": "ålice", "password": "long enough"}, ("username", "bad format")),
        ({"username": 12345, "password": "long enough"}, ("username", "not a string")),
        ({"username": "alice", "password": "short"}, ("password", "bad length")),
        ({"username": "alice", "password": "x" * 129}, ("password", "bad length")),
        ({"username": "alice", "password": ["long enough"]}, ("password", "not a string")),
        ({"username": "alice", "password": "long\x00enough"}, ("password", "control character")),
        ({"username": "alice"}, ("password", "missing")),
        ({"password": "long enough"}, ("username", "missing")),
        (
            {"username": "alice", "password": "long enough", "admin": True},
            ("admin", "unknown field"),
        ),
    ],
)
def test_credentials_invalid_rejected(data, expected):
    assert rejected_field(validation.validate_credentials, data) == expected


def test_note_valid_pair_returned():
    assert validation.validate_note({"title": "t", "body": ""}) == ("t", "")


def test_note_body_keeps_line_breaks_and_tabs():
    assert validation.validate_note({"title": "t", "body": "a\nb\r\n\tc"})[1] == "a\nb\r\n\tc"


def test_note_sql_text_accepted_verbatim():
    title = "x'); DROP TABLE notes;--"
    assert validation.validate_note({"title": title, "body": "1 OR 1=1"}) == (title, "1 OR 1=1")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"title": "", "body": "b"}, ("title", "bad length")),
        ({"title": "   ", "body": "b"}, ("title", "blank")),
        ({"title": "t" * 201, "body": "b"}, ("title", "bad length")),
        ({"title": "a\nb", "body": "b"}, ("title", "control character")),
        ({"title": "a\ud800", "body": "b"}, ("title", "control character")),
        ({"title": None, "body": "b"}, ("title", "not a string")),
        ({"title": "t", "body": "b" * 10_001}, ("body", "bad length")),
        ({"title": "t", "body": "a\x1b[31m"}, ("body", "control character")),
        ({"title": "t", "body": 5}, ("body", "not a string")),
        ({"title": "t"}, ("body", "missing")),
        ({"title": "t", "body": "b", "owner_id": 2}, ("owner_id", "unknown field")),
    ],
)
def test_note_invalid_rejected(data, expected):
    assert rejected_field(validation.validate_note, data) == expected


def test_note_query_defaults():
    assert validation.validate_note_query(MultiDict()) == validation.NoteQuery("", 20, 0)


def test_note_query_values_parsed():
    args = MultiDict({"q": "milk", "limit": "100", "offset": "7"})
    assert validation.validate_note_query(args) == validation.NoteQuery("milk", 100, 7)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"limit": "0"}, ("limit", "out of range")),
        ({"limit": "101"}, ("limit", "out of range")),
        ({"limit": "-1"}, ("limit", "not a whole number")),
        ({"limit": "1.5"}, ("limit", "not a whole number")),
        ({"limit": "²"}, ("limit", "not a whole number")),
        ({"limit": "99999999"}, ("limit", "not a whole number")),
        ({"limit": " 5"}, ("limit", "not a whole number")),
        ({"offset": "100001"}, ("offset", "out of range")),
        ({"q": "q" * 101}, ("q", "bad length")),
        ({"q": "a\x00"}, ("q", "control character")),
        ({"sort": "title"}, ("sort", "unknown field")),
    ],
)
def test_note_query_invalid_rejected(args, expected):
    assert rejected_field(validation.validate_note_query, MultiDict(args)) == expected


def test_note_query_repeated_parameter_rejected():
    args = MultiDict([("q", "a"), ("q", "b")])
    assert rejected_field(validation.validate_note_query, args) == ("q", "repeated")


def test_note_query_plain_dict_accepted():
    assert validation.validate_note_query({"limit": "3"}).limit == 3


@pytest.mark.parametrize("payload", [None, [], "text", 3])
def test_json_object_non_object_rejected(payload):
    assert rejected_field(validation.require_json_object, payload) == ("body", "not a JSON object")


def test_login_form_credentials_returned():
    form = {"username": "alice", "password": "long enough", "csrf_token": "t"}
    assert validation.validate_login_form(form) == ("alice", "long enough")


def test_login_form_unknown_field_rejected():
    form = {"username": "alice", "password": "long enough", "csrf_token": "t", "next": "/"}
    assert rejected_field(validation.validate_login_form, form) == ("next", "unknown field")


def test_login_form_missing_password_rejected():
    form = {"username": "alice", "csrf_token": "t"}
    assert rejected_field(validation.validate_login_form, form) == ("password", "missing")


def test_login_form_repeated_field_rejected():
    form = MultiDict([("username", "alice"), ("username", "admin"), ("csrf_token", "t")])
    assert rejected_field(validation.validate_login_form, form) == ("username", "repeated")
