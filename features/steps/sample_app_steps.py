"""Step definitions for the sample app's scenarios, over real HTTP with requests.

Scenario names such as "alice" map to a fresh account per scenario, because every scenario in a
run shares one server and database.
"""

import re

import requests

# behave 1.3 builds its step decorators at import time, which pylint reads as not callable.
# pylint: disable=not-callable
from behave import given, then, when

PASSWORD = "correct horse battery"
TOKEN_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
GENERIC_ERROR = {"error": "invalid request"}
HEADER_CHECKS = {
    "Content-Security-Policy": "frame-ancestors 'none'",
    "Strict-Transport-Security": "max-age=",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
INTERNALS = ("Traceback", "SELECT", "sqlite", ".py", 'File "', "Werkzeug", "Python", "gunicorn/")


def url(context, path):
    return context.base_url + path


def username_for(context, name):
    """Return this scenario's account name for ``name``, creating a unique one on first use."""
    if name not in context.accounts:
        context.accounts[name] = f"{name}{next(context.account_numbers)}"
    return context.accounts[name]


def session_for(context, name):
    if name not in context.sessions:
        context.sessions[name] = requests.Session()
    return context.sessions[name]


def register(context, name):
    credentials = {"username": username_for(context, name), "password": PASSWORD}
    return session_for(context, name).post(url(context, "/api/register"), json=credentials)


def log_in(context, name, password=PASSWORD):
    credentials = {"username": username_for(context, name), "password": password}
    return session_for(context, name).post(url(context, "/api/login"), json=credentials)


def write_note(context, name, title, body):
    response = session_for(context, name).post(
        url(context, "/api/notes"), json={"title": title, "body": body}
    )
    context.response = response
    context.actor = name
    if response.status_code == 201:
        context.notes[name] = response.json()
    return response


def note_url(context, owner):
    return url(context, f"/api/notes/{context.notes[owner]['id']}")


def assert_status(response, expected):
    assert (
        response.status_code == expected
    ), f"expected HTTP {expected}, got {response.status_code}: {response.text[:300]}"


# Accounts


@given('"{name}" has an account')
def step_has_account(context, name):
    assert_status(register(context, name), 201)


@given('"{name}" is logged in with a new account')
def step_logged_in_new_account(context, name):
    assert_status(register(context, name), 201)
    assert_status(log_in(context, name), 200)


@given('"{name}" is logged in')
def step_logged_in_shared(context, name):
    if name not in context.shared_logins:
        step_logged_in_new_account(context, name)
        context.shared_logins[name] = (context.accounts[name], context.sessions[name])
    context.accounts[name], context.sessions[name] = context.shared_logins[name]


@when('a visitor registers as "{name}"')
def step_visitor_registers(context, name):
    context.response = register(context, name)
    context.actor = name


@then("the account is created")
def step_account_created(context):
    assert_status(context.response, 201)
    assert context.response.json()["username"] == username_for(context, context.actor)


@when('"{name}" logs in with the right password')
def step_log_in_right(context, name):
    context.response = log_in(context, name)


@when('"{name}" logs in with a wrong password')
def step_log_in_wrong(context, name):
    context.response = log_in(context, name, password="not the password")


@then('"{name}" is logged in')
def step_is_logged_in(context, name):
    assert_status(context.response, 200)
    assert_status(session_for(context, name).get(url(context, "/api/notes")), 200)


@then("the session cookie cannot be read by scripts or sent from other sites")
def step_cookie_flags(context):
    cookie = context.response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie, cookie
    assert "SameSite=Strict" in cookie, cookie


@then("the request is rejected as unauthenticated")
def step_rejected_unauthenticated(context):
    assert_status(context.response, 401)


@when('another visitor registers the same username as "{name}"')
def step_register_same_name(context, name):
    credentials = {"username": username_for(context, name), "password": PASSWORD}
    context.response = requests.post(url(context, "/api/register"), json=credentials, timeout=10)


@then("the request is rejected as a conflict")
def step_rejected_conflict(context):
    assert_status(context.response, 409)


@when('"{name}" logs out')
def step_log_out(context, name):
    assert_status(session_for(context, name).post(url(context, "/api/logout")), 204)


@given('someone has copied the session cookie of "{name}"')
def step_copy_cookie(context, name):
    context.copied_session = requests.Session()
    context.copied_session.cookies.update(session_for(context, name).cookies)
    assert_status(context.copied_session.get(url(context, "/api/notes")), 200)


@then("the copied session cookie no longer works")
def step_copied_cookie_rejected(context):
    assert_status(context.copied_session.get(url(context, "/api/notes")), 401)


@then('"{name}" can no longer list notes')
def step_cannot_list(context, name):
    assert_status(session_for(context, name).get(url(context, "/api/notes")), 401)


@when('"{name}" logs in through the web form')
def step_log_in_form(context, name):
    session = session_for(context, name)
    page = session.get(url(context, "/login"))
    assert_status(page, 200)
    form = {
        "username": username_for(context, name),
        "password": PASSWORD,
        "csrf_token": TOKEN_FIELD.search(page.text).group(1),
    }
    context.response = session.post(url(context, "/login"), data=form, allow_redirects=False)


@then('"{name}" lands on the page of her notes')
def step_lands_on_notes(context, name):
    assert_status(context.response, 303)
    assert context.response.headers["Location"] == "/notes"
    page = session_for(context, name).get(url(context, "/notes"))
    assert_status(page, 200)
    assert f"Notes of {username_for(context, name)}" in page.text


@when('a page on another site submits the login form for "{name}" without the token')
def step_form_without_token(context, name):
    form = {"username": username_for(context, name), "password": PASSWORD}
    context.response = requests.post(
        url(context, "/login"), data=form, allow_redirects=False, timeout=10
    )


@then("the request is rejected as invalid")
def step_rejected_invalid(context):
    assert_status(context.response, 400)


# Notes


@when('"{name}" writes a note titled "{title}" saying "{body}"')
def step_write_note(context, name, title, body):
    write_note(context, name, title, body)


@given('"{name}" has written a note titled "{title}" saying "{body}"')
def step_has_written_note(context, name, title, body):
    assert_status(write_note(context, name, title, body), 201)


@then('"{name}" can read the note titled "{title}"')
def step_can_read_note(context, name, title):
    response = session_for(context, name).get(note_url(context, name))
    assert_status(response, 200)
    assert response.json()["title"] == title, response.json()


@when('"{name}" changes the note to the title "{title}" saying "{body}"')
def step_change_note(context, name, title, body):
    response = session_for(context, name).put(
        note_url(context, name), json={"title": title, "body": body}
    )
    assert_status(response, 200)


@when('"{name}" deletes the note')
def step_delete_note(context, name):
    assert_status(session_for(context, name).delete(note_url(context, name)), 204)


@then('the note is gone for "{name}"')
def step_note_gone(context, name):
    assert_status(session_for(context, name).get(note_url(context, name)), 404)


@when('"{name}" searches her notes for "{text}"')
def step_search(context, name, text):
    context.response = session_for(context, name).get(
        url(context, "/api/notes"), params={"q": text}
    )


@then('the search finds only the note titled "{title}"')
def step_search_finds(context, title):
    assert_status(context.response, 200)
    assert [note["title"] for note in context.response.json()["notes"]] == [title]


@when('"{name}" tries to read the note of "{owner}"')
def step_read_other(context, name, owner):
    context.response = session_for(context, name).get(note_url(context, owner))


@when('"{name}" tries to change the note of "{owner}"')
def step_change_other(context, name, owner):
    context.response = session_for(context, name).put(
        note_url(context, owner), json={"title": "changed", "body": "by someone else"}
    )


@when('"{name}" tries to delete the note of "{owner}"')
def step_delete_other(context, name, owner):
    context.response = session_for(context, name).delete(note_url(context, owner))


@then("the note is reported as not found")
def step_not_found(context):
    assert_status(context.response, 404)


@when('"{name}" lists his notes')
def step_list_notes(context, name):
    context.response = session_for(context, name).get(url(context, "/api/notes"))


@then("the list is empty")
def step_list_empty(context):
    assert_status(context.response, 200)
    assert context.response.json() == {"notes": []}
