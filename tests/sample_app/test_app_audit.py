"""Tests of sample_app.audit: one JSON object per line that user input cannot forge."""

import json
import logging

import pytest

from sample_app import audit

FORGED_LINE = '\n{"event":"login","outcome":"success","username":"admin"}\n'
FORGERY_ATTEMPTS = [
    "alice" + FORGED_LINE,
    'alice","outcome":"success',
    "alice\r\nevent=login outcome=success",
    "alice\u2028\u2029\x85",
    'alice\\"}',
    "\x1b[2Jalice\x00",
]


def parsed(lines):
    return [json.loads(line) for line in lines]


def test_event_fields_written(app, audit_lines):
    with app.test_request_context("/api/login", method="POST"):
        audit.audit_event("login", "failure", username="alice")
    (line,) = parsed(audit_lines())
    assert line["event"] == "login"
    assert line["outcome"] == "failure"
    assert line["username"] == "alice"
    assert line["method"] == "POST"
    assert line["path"] == "/api/login"
    assert line["user_id"] is None
    assert line["time"].endswith("+00:00")


@pytest.mark.parametrize("username", FORGERY_ATTEMPTS)
def test_forged_value_stays_one_field(app, audit_lines, username):
    with app.test_request_context("/api/login", method="POST"):
        audit.audit_event("login", "failure", username=username)
    lines = audit_lines()
    assert len(lines) == 1
    (line,) = parsed(lines)
    assert line["outcome"] == "failure"
    assert line["username"] == username


@pytest.mark.parametrize("username", FORGERY_ATTEMPTS)
def test_forged_value_ascii_only(app, audit_lines, username):
    with app.test_request_context("/"):
        audit.audit_event("login", "failure", username=username)
    (text,) = audit_lines()
    assert text.isascii()
    assert text.isprintable()


def test_forged_path_stays_one_line(app, audit_lines):
    with app.test_request_context("/api/notes%0a%7B%22event%22%3A%22x%22%7D"):
        audit.audit_event("validation", "rejected", field="q", reason="bad length")
    (line,) = parsed(audit_lines())
    assert line["path"] == '/api/notes\n{"event":"x"}'


def test_long_value_clipped(app, audit_lines):
    with app.test_request_context("/"):
        audit.audit_event("login", "failure", username="a" * 5000)
    (line,) = parsed(audit_lines())
    assert len(line["username"]) == audit.MAX_VALUE_LENGTH


def test_integer_and_none_values_kept(audit_lines):
    audit.audit_event("authorization", "denied", note_id=7, content_length=None)
    (line,) = parsed(audit_lines())
    assert line["note_id"] == 7
    assert line["content_length"] is None


def test_outside_request_no_request_fields(audit_lines):
    audit.audit_event("demo_account", "created", username="demo")
    (line,) = parsed(audit_lines())
    assert "path" not in line


@pytest.mark.parametrize("field", sorted(audit.RESERVED_FIELDS))
def test_reserved_field_name_rejected(field):
    with pytest.raises(ValueError, match="reserved"):
        audit.audit_event("login", "failure", **{field: "forged"})


def test_plain_record_formatted_as_json():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello\n%s", ("world",), None)
    line = json.loads(audit.JsonLinesFormatter().format(record))
    assert line["event"] == "log"
    assert line["message"] == "hello\nworld"


def test_logger_handler_added_once():
    logger = audit.get_audit_logger()
    handlers = list(logger.handlers)
    assert audit.get_audit_logger().handlers == handlers
    assert logger.propagate is False


def test_api_events_audited(client, audit_lines):
    client.post("/api/register", json={"username": "frank", "password": "frank password"})
    client.post("/api/register", json={"username": "frank", "password": "frank password"})
    client.post("/api/login", json={"username": "frank", "password": "wrong password"})
    client.post("/api/login", json={"username": "frank", "password": "frank password"})
    client.post("/api/notes", json={"title": ""})
    client.post("/api/notes", data="x" * 20000, content_type="application/json")
    client.post("/api/logout")
    events = [(line["event"], line["outcome"]) for line in parsed(audit_lines())]
    assert events == [
        ("register", "success"),
        ("register", "failure"),
        ("login", "failure"),
        ("login", "success"),
        ("validation", "rejected"),
        ("request_too_large", "rejected"),
        ("logout", "success"),
    ]


def test_authorization_denial_audited(alice, bob, audit_lines):
    note = alice.post("/api/notes", json={"title": "t", "body": "b"}).get_json()
    bob.delete(f"/api/notes/{note['id']}")
    denials = [line for line in parsed(audit_lines()) if line["event"] == "authorization"]
    assert len(denials) == 1
    assert denials[0]["outcome"] == "denied"
    assert denials[0]["note_id"] == note["id"]


def test_validation_audit_names_field_not_value(alice, audit_lines):
    alice.post("/api/notes", json={"title": "t", "body": "b", "secret\nfield": "x"})
    (line,) = parsed(audit_lines())
    assert line["field"] == "secret\nfield"
    assert line["reason"] == "unknown field"
