"""Accounts and sessions: registration, login, logout and the login-required guard.

A login stores a random session token in Flask's signed session cookie and the token's SHA-256
in the database, so logout revokes the session on the server, and a copy of the cookie taken
before logout no longer works. The cookie is HttpOnly, SameSite=Strict and Secure (unless
SAMPLE_APP_INSECURE_COOKIES=1), and the cookie and the stored session expire after
``SESSION_LIFETIME``.
"""

import datetime
import functools
import hashlib
import secrets
import sqlite3
import time

from flask import abort, g, session

from . import db, passwords

SESSION_LIFETIME = datetime.timedelta(hours=1)


def register(connection: sqlite3.Connection, username: str, password: str) -> int:
    """Create an account and return its id; raise db.UsernameTaken when the name is in use."""
    return db.create_user(connection, username, passwords.hash_password(password))


def authenticate(connection: sqlite3.Connection, username: str, password: str):
    """Return the account row when the credentials match, else None."""
    user = db.find_user_by_name(connection, username)
    stored_hash = None if user is None else user["password_hash"]
    if passwords.verify_password(stored_hash, password):
        return user
    return None


def seed_demo_user(connection: sqlite3.Connection, username: str, password: str) -> bool:
    """Create the demo account unless it exists; return True when it was created."""
    try:
        register(connection, username, password)
    except db.UsernameTaken:
        return False
    return True


def start_session(connection: sqlite3.Connection, user) -> None:
    """Log ``user`` in with a fresh session, so no value from before login carries over.

    A session that the cookie already carries is revoked first, so logging in twice leaves one.
    """
    end_session(connection)

    token = secrets.token_urlsafe(32)
    now = int(time.time())
    expires_at = now + int(SESSION_LIFETIME.total_seconds())
    db.create_session(connection, hash_token(token), user["id"], expires_at, now)

    session.permanent = True
    session["session_token"] = token
    # The user id serves the audit log only; current_user() trusts the stored session alone.
    session["user_id"] = user["id"]


def end_session(connection: sqlite3.Connection) -> None:
    """Log out: revoke the stored session and drop every value from the cookie."""
    token = session.get("session_token")
    if isinstance(token, str):
        db.delete_session(connection, hash_token(token))
    session.clear()


def current_user():
    """Return the logged-in account row, or None when the session is missing, expired or revoked."""
    if "user" not in g:
        token = session.get("session_token")
        g.user = None
        if isinstance(token, str):
            g.user = db.find_session_user(db.get_connection(), hash_token(token), int(time.time()))
    return g.user


def hash_token(token: str) -> str:
    """Return the SHA-256 hex digest under which a session token is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def login_required(view):
    """Reject the request with 401 unless an account is logged in."""

    @functools.wraps(view)
    def guarded(*args, **kwargs):
        if current_user() is None:
            abort(401)
        return view(*args, **kwargs)

    return guarded


def csrf_token() -> str:
    """Return this session's CSRF token, creating it on first use."""
    if "csrf_token" not in session:
        session["csrf_token"] = secrets.token_urlsafe(32)
    return session["csrf_token"]


def csrf_token_matches(submitted: object) -> bool:
    """Compare a submitted CSRF token with the session's in constant time."""
    expected = session.get("csrf_token")
    if not isinstance(expected, str) or not isinstance(submitted, str):
        return False
    return secrets.compare_digest(expected.encode(), submitted.encode())
