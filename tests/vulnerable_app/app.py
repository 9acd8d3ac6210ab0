"""The vulnerable twin's Flask app. Every defect here is planted on purpose; see __init__.py."""

import hashlib
import os
import sqlite3

from flask import Flask, g, jsonify, make_response, redirect, request, session

# Planted defect: a hard-coded secret that bandit (B105) reports.
SECRET_KEY = "twin-hardcoded-secret-key-3f9a1c"

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS notes (
    id INTEGER PRIMARY KEY,
    owner_id INTEGER NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL
);
"""

LOGIN_FORM = """<!doctype html>
<title>Log in</title>
<form method="post" action="/login">
<input type="hidden" name="csrf_token" value="unused">
<input name="username"> <input name="password" type="password">
<button>Log in</button>
</form>
"""


def hash_password(password):
    """Return an unsalted SHA-256 hex digest (planted defect: a fast, unsalted hash)."""
    return hashlib.sha256(password.encode()).hexdigest()


def get_db():
    if "db" not in g:
        g.db = sqlite3.connect(os.environ.get("SAMPLE_APP_DB", "vulnerable_app.sqlite3"))
        g.db.row_factory = sqlite3.Row
    return g.db


def close_db(_error=None):
    db = g.pop("db", None)
    if db is not None:
        db.close()


def init_db(database):
    """Create the schema and seed the demo user and one demo note when configured."""
    connection = sqlite3.connect(database)
    connection.executescript(SCHEMA)

    demo_user = os.environ.get("SAMPLE_APP_DEMO_USER")
    demo_password = os.environ.get("SAMPLE_APP_DEMO_PASSWORD")
    if demo_user and demo_password:
        create_user(connection, username=demo_user, password=demo_password)

    connection.commit()
    connection.close()


def create_user(connection, username, password="changeme123"):
    # Planted defect: a hard-coded default password that bandit (B107) reports.
    cursor = connection.execute(
        "INSERT OR IGNORE INTO users (username, password_hash) VALUES (?, ?)",
        (username, hash_password(password)),
    )
    if cursor.rowcount:
        connection.execute(
            "INSERT INTO notes (owner_id, title, body) VALUES (?, ?, ?)",
            (cursor.lastrowid, "welcome", "first demo note"),
        )
    return cursor.lastrowid


def note_to_dict(row):
    return {"id": row["id"], "title": row["title"], "body": row["body"]}


def current_user_id():
    return session.get("user_id")


def register_api(app):
    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    @app.post("/api/register")
    def register():
        data = request.get_json(force=True)
        try:
            user_id = create_user(get_db(), data["username"], data["password"])
            get_db().commit()
        except sqlite3.Error as error:
            return jsonify(error=str(error)), 409
        return jsonify(id=user_id, username=data["username"]), 201

    @app.post("/api/login")
    def api_login():
        data = request.get_json(force=True)
        row = (
            get_db()
            .execute(
                "SELECT id FROM users WHERE username = ? AND password_hash = ?",
                (data["username"], hash_password(data["password"])),
            )
            .fetchone()
        )
        if row is None:
            return jsonify(error="wrong username or password"), 401
        session["user_id"] = row["id"]
        return jsonify(id=row["id"], username=data["username"])

    @app.post("/api/logout")
    def api_logout():
        session.clear()
        return "", 204

    @app.get("/api/notes")
    def list_notes():
        if current_user_id() is None:
            return jsonify(error="login required"), 401
        query = request.args.get("q", "")
        limit = request.args.get("limit", "20")
        offset = request.args.get("offset", "0")
        # Planted defect: q, limit and offset are pasted into the SQL text (GET-parameter injection).
        sql = (
            "SELECT id, title, body FROM notes WHERE owner_id = %d AND "
            "(title LIKE '%%%s%%' OR body LIKE '%%%s%%') ORDER BY id LIMIT %s OFFSET %s"
            % (current_user_id(), query, query, limit, offset)
        )
        rows = get_db().execute(sql).fetchall()
        return jsonify(notes=[note_to_dict(row) for row in rows])

    @app.post("/api/notes")
    def create_note():
        if current_user_id() is None:
            return jsonify(error="login required"), 401
        data = request.get_json(force=True)
        title = data.get("title", "")
        db = get_db()
        db.execute(
            "INSERT INTO notes (owner_id, title, body) VALUES (?, ?, ?)",
            (current_user_id(), title, data.get("body", "")),
        )
        db.commit()
        # Planted defect: the created note is read back by a title pasted into the SQL text
        # (JSON-field injection).
        sql = "SELECT id, title, body FROM notes WHERE owner_id = %d AND title = '%s'" % (
            current_user_id(),
            title,
        )
        row = db.execute(sql).fetchone()
        if row is None:
            return jsonify(error="note not found after insert"), 500
        return jsonify(note_to_dict(row)), 201

    @app.route("/api/notes/<int:note_id>", methods=["GET", "PUT", "DELETE"])
    def one_note(note_id):
        # Planted defect: no ownership check, so any logged-in user reaches any note.
        if current_user_id() is None:
            return jsonify(error="login required"), 401
        db = get_db()
        row = db.execute("SELECT id, title, body FROM notes WHERE id = ?", (note_id,)).fetchone()
        if row is None:
            return jsonify(error="note not found"), 404
        if request.method == "DELETE":
            db.execute("DELETE FROM notes WHERE id = ?", (note_id,))
            db.commit()
            return "", 204
        if request.method == "PUT":
            data = request.get_json(force=True)
            db.execute(
                "UPDATE notes SET title = ?, body = ? WHERE id = ?",
                (data.get("title", row["title"]), data.get("body", row["body"]), note_id),
            )
            db.commit()
            row = db.execute(
                "SELECT id, title, body FROM notes WHERE id = ?", (note_id,)
            ).fetchone()
        return jsonify(note_to_dict(row))


def register_pages(app):
    @app.get("/login")
    def login_page():
        return LOGIN_FORM

    @app.post("/login")
    def login_form():
        # Planted defects: no CSRF check, and the username is pasted into the SQL text
        # (form-field injection).
        username = request.form.get("username", "")
        password_hash = hash_password(request.form.get("password", ""))
        sql = "SELECT id FROM users WHERE username = '%s' AND password_hash = '%s'" % (
            username,
            password_hash,
        )
        row = get_db().execute(sql).fetchone()
        if row is None:
            return make_response(LOGIN_FORM, 401)
        session["user_id"] = row["id"]
        return redirect("/notes", code=303)

    @app.get("/notes")
    def notes_page():
        if current_user_id() is None:
            return redirect("/login", code=303)
        rows = get_db().execute(
            "SELECT id, title, body FROM notes WHERE owner_id = ?", (current_user_id(),)
        )
        # Planted defect: titles and bodies go into the page unescaped.
        items = "".join(f"<li>{row['title']}: {row['body']}</li>" for row in rows)
        return f"<!doctype html><title>Notes</title><ul>{items}</ul>"


def create_app():
    """Build the twin's Flask app and create its database."""
    app = Flask(__name__)
    app.config["SECRET_KEY"] = SECRET_KEY
    init_db(os.environ.get("SAMPLE_APP_DB", "vulnerable_app.sqlite3"))
    app.teardown_appcontext(close_db)

    @app.errorhandler(Exception)
    def leak_error(error):
        # Planted defect: the exception text, SQL errors included, reaches the client.
        code = getattr(error, "code", 500)
        if not isinstance(code, int):
            code = 500
        return jsonify(error=f"{type(error).__name__}: {error}"), code

    register_api(app)
    register_pages(app)
    return app
