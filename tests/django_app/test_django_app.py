"""A project made by ``django-admin startproject`` gets signed, retried deliveries by adding
the app, its settings and one ``emit`` call: on SQLite, PostgreSQL and MariaDB.

Each test builds the project in a temporary directory and runs it as its users would, in
processes of its own (``manage.py migrate``, ``manage.py test``, ``manage.py shell``,
``manage.py acadio_webhooks worker``): Django's settings are per process.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.django_support import manage, project_environment
from tests.loopback import loopback_receiver, wait_until
from tests.services import mariadb_database, postgres_database, unavailable

pytestmark = pytest.mark.timeout(600)

SECRET = "a-secret-of-16+-chars-django"
HERE = Path(__file__).resolve().parent


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.services),
        pytest.param("mariadb", marks=pytest.mark.services),
        pytest.param("mariadb-mysqlclient", marks=pytest.mark.services),
    ]
)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """``DATABASES["default"]`` of the new project: a fresh database of each kind; on MariaDB
    through PyMySQL standing in for ``MySQLdb``, and through ``mysqlclient`` itself."""
    if request.param == "mariadb-mysqlclient":
        require_mysqlclient()
    if request.param == "sqlite":
        yield {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(tmp_path / "lms.sqlite3"),
            # Django's default test database is in memory: the store's worker needs a file.
            "TEST": {"NAME": str(tmp_path / "test_lms.sqlite3")},
        }
        return
    server = postgres_database if request.param == "postgresql" else mariadb_database
    with server("acadio_django") as url:
        made = sa.make_url(url)
        backend = "postgresql" if request.param == "postgresql" else "mysql"
        yield {
            "OPTIONS": {"driver": "pymysql"} if request.param == "mariadb" else {},
            "ENGINE": f"django.db.backends.{backend}",
            "NAME": made.database or "",
            "USER": made.username or "",
            "PASSWORD": made.password or "",
            "HOST": made.host or "",
            "PORT": str(made.port),
        }


def require_mysqlclient() -> None:
    """Django's own MySQL driver builds against the MariaDB client headers: `dev.py` installs
    it when they are there (`.ci/run` installs them)."""
    if importlib.util.find_spec("MySQLdb") is None:
        unavailable(
            "mysqlclient is not installed: install the MariaDB client headers "
            "(Debian: libmariadb-dev) and run `python3 dev.py test` again"
        )


def start_project(root: Path, database: dict[str, Any]) -> Path:
    """``django-admin startproject lms``, then what the docs tell a user to add."""
    root.mkdir()
    subprocess.run(
        [sys.executable, "-m", "django", "startproject", "lms", str(root)],
        check=True,
        capture_output=True,
    )
    settings = root / "lms" / "settings.py"
    text = settings.read_text()
    database = {**database, "OPTIONS": dict(database.get("OPTIONS", {}))}
    if database["OPTIONS"].pop("driver", None) == "pymysql":
        # Django's MySQL backend speaks MySQLdb; PyMySQL (the `mysql` extra) stands in.
        text = "import pymysql\n\npymysql.install_as_MySQLdb()\n" + text
    settings.write_text(
        text
        + "\nINSTALLED_APPS += ['acadio_webhooks.contrib.django']\n"
        + f"DATABASES = {{'default': {database!r}}}\n"
        + "ACADIO_WEBHOOKS = {'ALLOW_INSECURE_ENDPOINTS': True}  # loopback receiver\n"
    )
    return root


def test_the_apps_own_tests_pass_in_a_new_project(database: dict[str, Any], tmp_path: Path) -> None:
    project = start_project(tmp_path / "lms", database)
    shutil.copy(HERE / "project_tests.py", project / "test_webhooks.py")
    migrated = manage(project, "migrate", "--noinput")
    assert "store schema is at the newest revision" in migrated.stdout
    checked = manage(project, "makemigrations", "--check", "--dry-run", "acadio_webhooks")
    assert "No changes detected" in checked.stdout
    tested = manage(project, "test", "test_webhooks", "--noinput", "-v", "2")
    assert " ... ok" in tested.stderr
    assert "FAILED" not in tested.stderr


_EMIT = """
from django.contrib.auth.models import User
from django.db import transaction
from acadio_webhooks.contrib.django import emit, webhooks

integration = webhooks().integrations.install("school-1", secret={secret!r})
webhooks().integrations.subscribe(integration.id, "course/*", {url!r})
with transaction.atomic():
    User.objects.create(username="ada")
    kept = emit("course/completion/create", {{"user": "ada"}}, tenant="school-1")
try:
    with transaction.atomic():
        User.objects.create(username="grace")
        emit("course/completion/create", {{"user": "grace"}}, tenant="school-1")
        raise RuntimeError("rolled back")
except RuntimeError:
    pass
print(kept)
"""


def test_a_new_project_delivers_signed_retried_events_and_its_worker_stops_on_sigterm(
    database: dict[str, Any], tmp_path: Path
) -> None:
    project = start_project(tmp_path / "lms", database)
    manage(project, "migrate", "--noinput")
    with loopback_receiver(SECRET) as receiver:
        receiver.answers["/hooks"] = (500, {})  # the first attempt fails: a retry follows
        emitted = manage(
            project, "shell", "-c", _EMIT.format(secret=SECRET, url=receiver.url("/hooks"))
        )
        kept = emitted.stdout.strip().splitlines()[-1]
        worker = subprocess.Popen(
            [sys.executable, "manage.py", "acadio_webhooks", "worker", "--poll-interval", "0.2"],
            cwd=project,
            env=project_environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            wait_until(lambda: len(receiver.received) >= 1, timeout=60, what="a first attempt")
            del receiver.answers["/hooks"]
            # The default schedule retries 5 s after the first failure.
            wait_until(lambda: len(receiver.received) >= 2, timeout=60, what="the retry")
        finally:
            worker.send_signal(signal.SIGTERM)
            output, _ = worker.communicate(timeout=60)
        assert worker.returncode == 0, output
    first, retry = receiver.received[:2]
    assert (first.verified, retry.verified) == (True, True)
    assert first.event_id == retry.event_id == kept
    assert first.data == {"user": "ada"}
    assert first.headers["webhook-timestamp"] != retry.headers["webhook-timestamp"] or (
        first.headers["x-acadio-hmac-sha256"] != retry.headers["x-acadio-hmac-sha256"]
    )
    assert len(receiver.received) == 2  # the rolled-back event was never sent
    listed = manage(project, "acadio_webhooks", "deliveries", "list", "--json")
    [delivery] = _records(listed.stdout)
    assert (delivery["status"], delivery["attempts"]) == ("delivered", 2)


def _records(output: str) -> list[dict[str, Any]]:
    found = json.loads(output)
    return list(found["items"] if isinstance(found, dict) else found)
