"""Tests of sample_app.passwords and sample_app.auth."""

import pytest
from flask import session

from sample_app import auth, db, passwords


def test_hash_uses_salted_scrypt(real_hash_cost):
    assert real_hash_cost == "scrypt:32768:8:1"
    first = passwords.hash_password("correct horse battery")
    second = passwords.hash_password("correct horse battery")
    assert first.startswith("scrypt:32768:8:1$")
    assert first != second


def test_verify_password_accepts_right_one():
    assert passwords.verify_password(passwords.hash_password("right password"), "right password")


def test_verify_password_rejects_wrong_one():
    assert not passwords.verify_password(passwords.hash_password("right password"), "wrong")


def test_verify_password_without_hash_fails():
    assert passwords.verify_password(None, "anything") is False
    assert passwords.verify_password(None, "anything again") is False


def test_hash_never_contains_password():
    assert "correct horse battery" not in passwords.hash_password("correct horse battery")


@pytest.fixture(name="connection")
def fixture_connection(app):
    connection = db.connect(app.config["DATABASE"])
    yield connection
    connection.close()


def test_authenticate_right_credentials(connection):
    user_id = auth.register(connection, "carol", "carol password")
    assert auth.authenticate(connection, "carol", "carol password")["id"] == user_id


def test_authenticate_wrong_password(connection):
    auth.register(connection, "carol", "carol password")
    assert auth.authenticate(connection, "carol", "not carol's") is None


def test_authenticate_unknown_user(connection):
    assert auth.authenticate(connection, "nobody", "whatever pw") is None


def test_seed_demo_user_once(connection):
    assert auth.seed_demo_user(connection, "demo", "demo password") is True
    assert auth.seed_demo_user(connection, "demo", "demo password") is False


def test_start_session_drops_earlier_values(app):
    with app.test_request_context():
        session["csrf_token"] = "before login"
        auth.start_session({"id": 7})
        assert dict(session) == {"user_id": 7, "_permanent": True}


def test_current_user_ignores_non_integer_id(app):
    with app.test_request_context():
        session["user_id"] = "1 OR 1=1"
        assert auth.current_user() is None


def test_current_user_deleted_account_is_none(app):
    with app.test_request_context():
        session["user_id"] = 12345
        assert auth.current_user() is None


def test_csrf_token_stable_within_session(app):
    with app.test_request_context():
        assert auth.csrf_token() == auth.csrf_token()


@pytest.mark.parametrize("submitted", [None, "", "wrong", 5])
def test_csrf_token_mismatch_rejected(app, submitted):
    with app.test_request_context():
        auth.csrf_token()
        assert auth.csrf_token_matches(submitted) is False


def test_csrf_token_missing_in_session_rejected(app):
    with app.test_request_context():
        assert auth.csrf_token_matches("anything") is False


def test_csrf_token_match_accepted(app):
    with app.test_request_context():
        assert auth.csrf_token_matches(auth.csrf_token()) is True
