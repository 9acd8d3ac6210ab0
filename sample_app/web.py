"""The HTML pages: a login form protected by a CSRF token, and the user's list of notes."""

from flask import Blueprint, abort, make_response, redirect, render_template, request, url_for

from . import auth, db, validation
from .audit import audit_event

blueprint = Blueprint("web", __name__)

# The notes page shows the first notes only; the JSON API pages through the rest.
NOTES_PAGE_SIZE = 100


@blueprint.get("/login")
def login_form():
    """GET /login: the login form with this session's CSRF token."""
    return render_template("login.html", csrf_token=auth.csrf_token())


@blueprint.post("/login")
def login_submit():
    """POST /login: 303 to /notes on success, 401 with the form again, 400 on a bad token."""
    if not auth.csrf_token_matches(request.form.get("csrf_token")):
        audit_event("csrf", "rejected")
        abort(400)

    username, password = validation.validate_login_form(request.form)
    user = auth.authenticate(db.get_connection(), username, password)
    if user is None:
        audit_event("login", "failure", username=username)
        page = render_template("login.html", csrf_token=auth.csrf_token(), failed=True)
        return make_response(page, 401)

    auth.start_session(db.get_connection(), user)
    audit_event("login", "success", username=user["username"])
    return redirect(url_for("web.notes_page"), code=303)


@blueprint.get("/notes")
def notes_page():
    """GET /notes: the logged-in user's notes, or 303 to /login."""
    user = auth.current_user()
    if user is None:
        return redirect(url_for("web.login_form"), code=303)

    notes = db.list_notes(db.get_connection(), user["id"], "", NOTES_PAGE_SIZE, 0)
    return render_template("notes.html", username=user["username"], notes=notes)
