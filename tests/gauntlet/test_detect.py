"""Tests of the layout detection behind ``gauntlet init``, on fixture repositories."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from gauntlet import detect

FLASK_SHOP = Path(__file__).resolve().parents[1] / "fixtures" / "flask_shop"


def write_files(root: Path, files: dict[str, str]) -> None:
    """Create each file under ``root`` with its dedented text."""
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")


@pytest.fixture(name="flask_shop")
def fixture_flask_shop(tmp_path: Path) -> Path:
    """A copy of the Flask fixture app: blueprints, form, query and JSON views, init-db."""
    shutil.copytree(FLASK_SHOP, tmp_path, dirs_exist_ok=True)
    return tmp_path


def test_packages_at_root_and_under_src(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "src/lib/__init__.py": "",
            "tests/__init__.py": "",
            "docs/conf/__init__.py": "",
            ".hidden/__init__.py": "",
            "build/__init__.py": "",
            "notes/readme.txt": "",
        },
    )

    assert detect.detect_layout(tmp_path).packages == ("pkg", "src/lib")


def test_tests_dir_prefers_tests(tmp_path: Path) -> None:
    write_files(tmp_path, {"tests/test_a.py": "", "test/test_b.py": ""})

    assert detect.detect_layout(tmp_path).tests_dir == "tests"


def test_no_tests_dir(tmp_path: Path) -> None:
    assert detect.detect_layout(tmp_path).tests_dir is None


def test_dockerfile_detected(tmp_path: Path) -> None:
    write_files(tmp_path, {"Dockerfile": "FROM scratch\n"})

    assert detect.detect_layout(tmp_path).dockerfile == "Dockerfile"


def test_venv_directory_is_not_a_package(tmp_path: Path) -> None:
    write_files(tmp_path, {"env2/pyvenv.cfg": "", "env2/__init__.py": "", "app/__init__.py": ""})

    layout = detect.detect_layout(tmp_path)

    assert layout.packages == ("app",)


def test_features_dir_needs_feature_files(tmp_path: Path) -> None:
    write_files(tmp_path, {"pkg/__init__.py": "", "features/steps/steps.py": ""})
    assert detect.detect_layout(tmp_path).features_dir is None

    write_files(tmp_path, {"features/notes.feature": "Feature: notes\n"})
    assert detect.detect_layout(tmp_path).features_dir == "features"


def test_flask_app_found_by_factory(flask_shop: Path) -> None:
    app = detect.detect_layout(flask_shop).app

    assert app is not None
    assert app.import_name == "shop"
    assert app.source == "shop/__init__.py"
    assert app.init_db_command == "init-db"
    assert app.health_path == "/"


def test_flask_routes_become_targets(flask_shop: Path) -> None:
    app = detect.detect_layout(flask_shop).app
    assert app is not None

    assert set(app.routes) == {
        detect.Route("POST", "/auth/register", "form", ("username", "password")),
        detect.Route("GET", "/search", "query", ("q",)),
        detect.Route("POST", "/api/items", "json", ("title",)),
    }


def test_flask_guarded_and_variable_routes_skipped(flask_shop: Path) -> None:
    app = detect.detect_layout(flask_shop).app
    assert app is not None
    skipped = "\n".join(app.skipped_routes)

    assert "POST /auth/profile: decorated with login_required" in skipped
    assert "POST /auth/<int:user_id>/rename: the path has variable parts" in skipped


def test_flask_app_module_without_factory(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "app.py": """\
                import flask

                app = flask.Flask(__name__)


                @app.route("/items", methods=["POST"])
                def items():
                    return flask.request.form["name"]
                """,
        },
    )
    app = detect.detect_layout(tmp_path).app

    assert app is not None
    assert app.import_name == "app"
    assert app.init_db_command is None


def test_create_app_without_flask_is_no_app(tmp_path: Path) -> None:
    write_files(tmp_path, {"pkg/__init__.py": "def create_app():\n    return object()\n"})

    assert detect.detect_layout(tmp_path).app is None


def test_unparseable_module_is_ignored(tmp_path: Path) -> None:
    write_files(tmp_path, {"pkg/__init__.py": "from flask import Flask\ndef create_app(:\n"})

    assert detect.detect_layout(tmp_path).app is None


def test_password_hashing_views_marked(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "app.py": """\
                from flask import Flask, request
                from werkzeug.security import generate_password_hash

                app = Flask(__name__)


                @app.post("/register")
                def register():
                    return generate_password_hash(request.form["password"])


                @app.post("/note")
                def note():
                    return request.form["text"]
                """,
        },
    )
    app = detect.detect_layout(tmp_path).app
    assert app is not None
    slow = {route.path: route.hashes_passwords for route in app.routes}

    assert slow == {"/register": True, "/note": False}


def test_sqlite_use_detected(flask_shop: Path) -> None:
    assert detect.uses_sqlite(detect.detect_layout(flask_shop)) is True


def test_health_path_avoids_parameters(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "app.py": """\
                from flask import Flask, request

                app = Flask(__name__)


                @app.get("/status")
                def status():
                    return "up"


                @app.get("/item/<name>")
                def item(name):
                    return name
                """,
        },
    )
    app = detect.detect_layout(tmp_path).app
    assert app is not None

    assert app.health_path == "/status"


def test_routes_inside_factory_found(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "web/__init__.py": """\
                from flask import Flask, request


                def create_app():
                    app = Flask(__name__)

                    @app.route("/echo", methods=["POST"])
                    def echo():
                        return request.form["text"]

                    return app
                """,
        },
    )
    app = detect.detect_layout(tmp_path).app
    assert app is not None

    assert app.routes == (detect.Route("POST", "/echo", "form", ("text",)),)


def test_python_files_outside_venvs_only(tmp_path: Path) -> None:
    write_files(tmp_path, {".venv/lib/site.py": "", "env2/pyvenv.cfg": "", "env2/tool.py": ""})
    assert detect.contains_python_files(tmp_path) is False

    write_files(tmp_path, {"scripts/run.py": ""})
    assert detect.contains_python_files(tmp_path) is True


def test_request_alias_fields_found(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "app.py": """\
                from flask import Flask, request

                app = Flask(__name__)


                @app.post("/api/notes")
                def create_note():
                    data = request.get_json(force=True)
                    return data["title"] + data.get("body", "")
                """,
        },
    )
    app = detect.detect_layout(tmp_path).app
    assert app is not None

    assert app.routes == (detect.Route("POST", "/api/notes", "json", ("title", "body")),)
