"""Tests of sample_app.passwords and sample_app.auth."""

import time

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


def test_start_session_drops_earlier_values(app, connection):
    user_id = auth.register(connection, "carol", "carol password")
    with app.test_request_context():
        session["csrf_token"] = "before login"
        auth.start_session(connection, {"id": user_id})
        assert set(session) == {"session_token", "user_id", "_permanent"}


def test_start_session_stores_token_hash_only(app, connection):
    user_id = auth.register(connection, "carol", "carol password")
    with app.test_request_context():
        auth.start_session(connection, {"id": user_id})
        token = session["session_token"]
    (stored,) = connection.execute("SELECT token_hash FROM sessions").fetchone()
    assert stored == auth.hash_token(token)
    assert token not in stored


def test_current_user_from_stored_session(app, connection):
    user_id = auth.register(connection, "carol", "carol password")
    with app.test_request_context():
        auth.start_session(connection, {"id": user_id})
        assert auth.current_user()["username"] == "carol"


def test_current_user_expired_session_is_none(app, connection, monkeypatch):
    user_id = auth.register(connection, "carol", "carol password")
    with app.test_request_context():
        auth.start_session(connection, {"id": user_id})
        later = time.time() + auth.SESSION_LIFETIME.total_seconds() + 1
        monkeypatch.setattr(auth.time, "time", lambda: later)
        assert auth.current_user() is None


def test_end_session_revokes_stored_session(app, connection):
    user_id = auth.register(connection, "carol", "carol password")
    with app.test_request_context():
        auth.start_session(connection, {"id": user_id})
        auth.end_session(connection)
    assert connection.execute("SELECT COUNT(*) FROM sessions").fetchone()[0] == 0


def test_start_session_twice_keeps_one_session(app, connection):
    user_id = auth.register(connection, "carol", "carol password")
    with app.test_request_context():
        auth.start_session(connection, {"id": user_id})
        auth.start_session(connection, {"id": user_id})
        token = session["session_token"]
    hashes = [row[0] for row in connection.execute("SELECT token_hash FROM sessions")]
    assert hashes == [auth.hash_token(token)]


def test_end_session_without_login_clears_cookie(app, connection):
    with app.test_request_context():
        session["csrf_token"] = "token"
        auth.end_session(connection)
        assert not session


def test_expired_sessions_dropped_at_next_login(connection):
    user_id = auth.register(connection, "carol", "carol password")
    db.create_session(connection, "old", user_id, expires_at=100, now=50)
    db.create_session(connection, "new", user_id, expires_at=300, now=200)
    hashes = [row[0] for row in connection.execute("SELECT token_hash FROM sessions")]
    assert hashes == ["new"]


@pytest.mark.parametrize("token", [None, 12345, ["token"]])
def test_current_user_ignores_non_string_token(app, token):
    with app.test_request_context():
        session["session_token"] = token
        assert auth.current_user() is None


def test_current_user_unknown_token_is_none(app):
    with app.test_request_context():
        session["session_token"] = "never issued"
        session["user_id"] = 1
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
