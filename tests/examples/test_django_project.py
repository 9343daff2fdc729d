"""``examples/django_project``: its README, step by step, in a copy of the project.

``manage.py migrate`` and the project's own tests (``manage.py test courses``) on SQLite,
PostgreSQL and MariaDB (the settings' ``LMS_DB_*`` variables); then, on SQLite, an
integration from the command line, ``runserver`` taking a completion over HTTP and the
worker delivering its signed event to a real receiver, both stopped by SIGTERM.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.django_support import manage, project_environment
from tests.loopback import loopback_receiver, wait_until
from tests.mail import free_port
from tests.services import mariadb_database, postgres_database

pytestmark = pytest.mark.timeout(600)

PROJECT = Path(__file__).resolve().parents[2] / "examples" / "django_project"
SECRET = "a-secret-of-16+-chars-for-school-1"


def copy_project(target: Path) -> Path:
    """The example as a user has it: without files a run leaves behind."""
    ignore = shutil.ignore_patterns("__pycache__", "*.sqlite3")
    return Path(shutil.copytree(PROJECT, target, ignore=ignore))


def run(project: Path, *arguments: str, env: dict[str, str]) -> str:
    """``manage.py ...``; its stdout and stderr together."""
    done = manage(project, *arguments, env=env)
    return done.stdout + done.stderr


@pytest.fixture(
    params=[
        "sqlite3",
        pytest.param("postgresql", marks=pytest.mark.services),
        pytest.param("mysql", marks=pytest.mark.services),
    ]
)
def database_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The ``LMS_DB_*`` variables of a fresh database of each kind."""
    if request.param == "sqlite3":
        yield {}
        return
    server = postgres_database if request.param == "postgresql" else mariadb_database
    with server("acadio_example") as url:
        made = sa.make_url(url)
        yield {
            "LMS_DB_ENGINE": request.param,
            "LMS_DB_NAME": made.database or "",
            "LMS_DB_HOST": made.host or "",
            "LMS_DB_PORT": str(made.port),
            "LMS_DB_USER": made.username or "",
            "LMS_DB_PASSWORD": made.password or "",
        }


def test_the_projects_own_tests_pass(database_env: dict[str, str], tmp_path: Path) -> None:
    project = copy_project(tmp_path / "lms")
    env = project_environment(**database_env)
    assert "store schema is at the newest revision" in run(project, "migrate", env=env)
    tested = run(project, "test", "courses", "--noinput", "-v", "2", env=env)
    assert "Ran 5 tests" in tested
    assert tested.rstrip().endswith("OK") or "\nOK\n" in tested


def test_a_completion_posted_to_the_lms_is_delivered_signed(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "lms")
    env = project_environment(HOOK_SECRET=SECRET)
    manage(project, "migrate", env=env)
    created = manage(
        project,
        *("acadio_webhooks", "integrations", "create", "--tenant", "school-1"),
        *("--secret-env", "HOOK_SECRET", "--json"),
        env=env,
    )
    integration_id = json.loads(created.stdout)["id"]
    port = free_port()
    with loopback_receiver(SECRET) as receiver:
        manage(
            project,
            *("acadio_webhooks", "integrations", "subscribe", integration_id),
            *("course/completion/*", receiver.url("/webhooks/acadio")),
            env=env,
        )
        server = _start(project, env, "runserver", "--noreload", f"127.0.0.1:{port}")
        worker = _start(project, env, "acadio_webhooks", "worker", "--poll-interval", "0.2")
        try:
            answer = _post_when_up(
                f"http://127.0.0.1:{port}/schools/school-1/completions/",
                {"student": "ada", "course": "algebra-1"},
            )
            assert answer.status_code == 201, answer.text
            wait_until(lambda: len(receiver.received) >= 1, timeout=60, what="the delivery")
        finally:
            outputs = [_stop(process) for process in (worker, server)]
        assert worker.returncode == 0, outputs[0]
        [received] = receiver.received
    assert received.verified
    assert received.topic == "course/completion/create"
    assert received.data is not None
    assert (received.data["student"], received.data["course"]) == ("ada", "algebra-1")
    assert received.data["completion_id"] == answer.json()["completion_id"]


def _start(project: Path, env: dict[str, str], *arguments: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "manage.py", *arguments],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=60)
    return output


def _post_when_up(url: str, body: dict[str, str]) -> httpx.Response:
    """POST once the development server listens (it starts in its own time)."""
    answers: list[httpx.Response] = []

    def posted() -> bool:
        try:
            answers.append(httpx.post(url, json=body, timeout=10))
        except httpx.TransportError:
            return False
        return True

    wait_until(posted, timeout=60, what="runserver to listen")
    return answers[-1]
