"""The JSON API: accounts under /api and notes owned by the logged-in user."""

from flask import Blueprint, abort, jsonify, request, url_for

from . import auth, db, validation
from .audit import audit_event

blueprint = Blueprint("api", __name__, url_prefix="/api")

# SQLite integer keys are signed 64-bit; a larger id in a URL would overflow the driver.
MAX_NOTE_ID = 2**63 - 1
NOTE_URL = f"/notes/<int(min=1, max={MAX_NOTE_ID}):note_id>"


@blueprint.post("/register")
def register():
    """POST /api/register {username, password}: 201 {id, username}, 400 invalid, 409 taken."""
    username, password = validation.validate_credentials(read_json_object())
    try:
        user_id = auth.register(db.get_connection(), username, password)
    except db.UsernameTaken:
        audit_event("register", "failure", reason="username taken", username=username)
        abort(409)

    audit_event("register", "success", username=username, new_user_id=user_id)
    return jsonify(id=user_id, username=username), 201


@blueprint.post("/login")
def login():
    """POST /api/login {username, password}: 200 with a session cookie, 401 on wrong credentials."""
    username, password = validation.validate_credentials(read_json_object())
    user = auth.authenticate(db.get_connection(), username, password)
    if user is None:
        audit_event("login", "failure", username=username)
        abort(401)

    auth.start_session(db.get_connection(), user)
    audit_event("login", "success", username=user["username"])
    return jsonify(id=user["id"], username=user["username"])


@blueprint.post("/logout")
def logout():
    """POST /api/logout: end the session (if any) and return 204."""
    if auth.current_user() is not None:
        audit_event("logout", "success")
    auth.end_session(db.get_connection())
    return "", 204


@blueprint.get("/notes")
@auth.login_required
def list_notes():
    """GET /api/notes?q=&limit=&offset=: the caller's notes whose title or body contains q."""
    query = validation.validate_note_query(request.args)
    notes = db.list_notes(
        db.get_connection(), auth.current_user()["id"], query.text, query.limit, query.offset
    )
    return jsonify(notes=[public_note(note) for note in notes])


@blueprint.post("/notes")
@auth.login_required
def create_note():
    """POST /api/notes {title, body}: 201 with the note and its Location."""
    title, body = validation.validate_note(read_json_object())
    note = db.create_note(db.get_connection(), auth.current_user()["id"], title, body)
    response = jsonify(public_note(note))
    response.headers["Location"] = url_for("api.read_note", note_id=note["id"])
    return response, 201


@blueprint.get(NOTE_URL)
@auth.login_required
def read_note(note_id):
    """GET /api/notes/<id>: the caller's note, or 404."""
    return jsonify(public_note(find_own_note(note_id)))


@blueprint.put(NOTE_URL)
@auth.login_required
def update_note(note_id):
    """PUT /api/notes/<id> {title, body}: replace the caller's note, or 404."""
    title, body = validation.validate_note(read_json_object())
    find_own_note(note_id)
    note = db.update_note(db.get_connection(), note_id, auth.current_user()["id"], title, body)
    if note is None:
        # The note was deleted between the ownership check and the update.
        abort(404)
    return jsonify(public_note(note))


@blueprint.delete(NOTE_URL)
@auth.login_required
def delete_note(note_id):
    """DELETE /api/notes/<id>: 204 when the caller's note is deleted, or 404."""
    find_own_note(note_id)
    if not db.delete_note(db.get_connection(), note_id, auth.current_user()["id"]):
        abort(404)
    return "", 204


def read_json_object() -> dict:
    """Return the request's JSON object body; raise ValidationError for anything else."""
    if not request.is_json:
        raise validation.ValidationError("content-type", "not application/json")
    return validation.require_json_object(request.get_json(silent=True))


def find_own_note(note_id: int) -> dict:
    """Return the caller's note; abort with 404 when it is missing or someone else's.

    Someone else's note gets the same 404 as a missing one, so ids of other users' notes cannot
    be probed, and the attempt is audited as an authorization denial.
    """
    note = db.find_note(db.get_connection(), note_id)
    if note is None:
        abort(404)

    if note["owner_id"] != auth.current_user()["id"]:
        audit_event("authorization", "denied", note_id=note_id)
        abort(404)
    return note


def public_note(note: dict) -> dict:
    """Return the fields of a note that its owner sees (the owner id stays internal)."""
    return {
        "id": note["id"],
        "title": note["title"],
        "body": note["body"],
        "created_at": note["created_at"],
        "updated_at": note["updated_at"],
    }
