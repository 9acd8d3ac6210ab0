"""Accounts and sessions: registration, login, logout and the login-required guard.

Sessions are Flask's signed cookies holding the user id. The cookie is HttpOnly, SameSite=Strict
and Secure (unless SAMPLE_APP_INSECURE_COOKIES=1), and expires after ``SESSION_LIFETIME``.
NOTE: a signed-cookie session cannot be revoked on the server, so a copy taken before logout stays
valid until it expires.
"""

import datetime
import functools
import secrets
import sqlite3

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


def start_session(user) -> None:
    """Log ``user`` in with a fresh session, so no value from before login carries over."""
    session.clear()
    session.permanent = True
    session["user_id"] = user["id"]


def end_session() -> None:
    """Log out by dropping every value from the session."""
    session.clear()


def current_user():
    """Return the logged-in account row, or None (also when the account no longer exists)."""
    if "user" not in g:
        user_id = session.get("user_id")
        g.user = None
        if isinstance(user_id, int):
            g.user = db.find_user_by_id(db.get_connection(), user_id)
    return g.user


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
