"""The only module that talks to SQLite. Every statement is parameterized."""

import sqlite3

from flask import current_app, g

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE IF NOT EXISTS notes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX IF NOT EXISTS notes_owner_id ON notes (owner_id);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL
);
"""

# Seconds a writer waits for another process's lock before SQLite raises "database is locked".
BUSY_TIMEOUT_S = 5.0


class UsernameTaken(Exception):
    """The username already belongs to an account (compared case-insensitively)."""


def connect(path: str) -> sqlite3.Connection:
    """Open a connection with foreign keys enforced and rows readable by column name."""
    connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S)
    connection.row_factory = sqlite3.Row
    connection.execute("PRAGMA foreign_keys = ON")
    return connection


def init_schema(path: str) -> None:
    """Create the tables if they do not exist yet."""
    connection = connect(path)
    try:
        connection.executescript(SCHEMA)
        connection.commit()
    finally:
        connection.close()


def get_connection() -> sqlite3.Connection:
    """Return this request's connection, opening it on first use."""
    if "db" not in g:
        g.db = connect(current_app.config["DATABASE"])
    return g.db


def close_connection(_error: BaseException | None = None) -> None:
    """Close this request's connection, if one was opened (a teardown callback)."""
    connection = g.pop("db", None)
    if connection is not None:
        connection.close()


def create_user(connection: sqlite3.Connection, username: str, password_hash: str) -> int:
    """Insert an account and return its id; raise UsernameTaken when the name is in use."""
    try:
        with connection:
            cursor = connection.execute(
                "INSERT INTO users (username, password_hash) VALUES (?, ?)",
                (username, password_hash),
            )
    except sqlite3.IntegrityError as error:
        raise UsernameTaken(username) from error
    return cursor.lastrowid


def find_user_by_name(connection: sqlite3.Connection, username: str) -> sqlite3.Row | None:
    """Return the account (id, username, password_hash) with this name, ignoring case."""
    return connection.execute(
        "SELECT id, username, password_hash FROM users WHERE username = ?", (username,)
    ).fetchone()


def create_session(
    connection: sqlite3.Connection, token_hash: str, user_id: int, expires_at: int, now: int
) -> None:
    """Store a login session (times in Unix seconds) and drop every expired one."""
    with connection:
        connection.execute("DELETE FROM sessions WHERE expires_at <= ?", (now,))
        connection.execute(
            "INSERT INTO sessions (token_hash, user_id, expires_at) VALUES (?, ?, ?)",
            (token_hash, user_id, expires_at),
        )


def find_session_user(
    connection: sqlite3.Connection, token_hash: str, now: int
) -> sqlite3.Row | None:
    """Return the account (id, username) of an unexpired session, or None."""
    return connection.execute(
        "SELECT users.id, users.username FROM sessions JOIN users ON users.id = sessions.user_id "
        "WHERE sessions.token_hash = ? AND sessions.expires_at > ?",
        (token_hash, now),
    ).fetchone()


def delete_session(connection: sqlite3.Connection, token_hash: str) -> None:
    """Revoke a login session; a token that is not stored is ignored."""
    with connection:
        connection.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))


def create_note(connection: sqlite3.Connection, owner_id: int, title: str, body: str) -> dict:
    """Insert a note and return it as a dict."""
    with connection:
        cursor = connection.execute(
            "INSERT INTO notes (owner_id, title, body) VALUES (?, ?, ?)", (owner_id, title, body)
        )
    return find_note(connection, cursor.lastrowid)


def find_note(connection: sqlite3.Connection, note_id: int) -> dict | None:
    """Return any user's note by id, or None. Callers check ``owner_id`` themselves."""
    row = connection.execute(
        "SELECT id, owner_id, title, body, created_at, updated_at FROM notes WHERE id = ?",
        (note_id,),
    ).fetchone()
    return None if row is None else dict(row)


def list_notes(
    connection: sqlite3.Connection, owner_id: int, text: str, limit: int, offset: int
) -> list[dict]:
    """Return the owner's notes whose title or body contains ``text``, oldest first."""
    pattern = "%" + escape_like(text) + "%"
    rows = connection.execute(
        "SELECT id, owner_id, title, body, created_at, updated_at FROM notes "
        "WHERE owner_id = ? AND (title LIKE ? ESCAPE '\\' OR body LIKE ? ESCAPE '\\') "
        "ORDER BY id LIMIT ? OFFSET ?",
        (owner_id, pattern, pattern, limit, offset),
    ).fetchall()
    return [dict(row) for row in rows]


def update_note(
    connection: sqlite3.Connection, note_id: int, owner_id: int, title: str, body: str
) -> dict | None:
    """Replace the owner's note's title and body; return the note, or None if not theirs."""
    with connection:
        cursor = connection.execute(
            "UPDATE notes SET title = ?, body = ?, updated_at = CURRENT_TIMESTAMP "
            "WHERE id = ? AND owner_id = ?",
            (title, body, note_id, owner_id),
        )
    if cursor.rowcount == 0:
        return None
    return find_note(connection, note_id)


def delete_note(connection: sqlite3.Connection, note_id: int, owner_id: int) -> bool:
    """Delete the owner's note; return False when no note of theirs has that id."""
    with connection:
        cursor = connection.execute(
            "DELETE FROM notes WHERE id = ? AND owner_id = ?", (note_id, owner_id)
        )
    return cursor.rowcount == 1


def escape_like(text: str) -> str:
    """Escape LIKE wildcards so ``%`` and ``_`` in a search match themselves."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
