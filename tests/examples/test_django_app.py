"""``examples/hosts/django_app.py``: the Django app's emit_on_save writes each event in the
saving transaction; a rollback sends nothing.

Django's settings are process-wide, so the example runs in a child process; the test's
script saves models and calls ``webhooks.drain()`` there, delivering to a real receiver.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.examples.conftest import HOSTS
from tests.loopback import loopback_receiver

SECRET = "django-secret-0123456789"

SCRIPT = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, sys.argv[1])
    import django_app as app
    from django.db import transaction

    hooks = app.webhooks.integrations
    integration = hooks.install("tenant-1", secret=sys.argv[2])
    hooks.subscribe(integration.id, "course/completion/*", sys.argv[3])

    with transaction.atomic():
        completion = app.CourseCompletion.objects.create(
            tenant="tenant-1", student_id=3, course_id=7
        )
        inside = len(app.webhooks.deliveries().items)
    try:
        with transaction.atomic():
            app.CourseCompletion.objects.create(tenant="tenant-1", student_id=4, course_id=7)
            raise RuntimeError("rolled back")
    except RuntimeError:
        pass
    completion.approved = True
    completion.save()
    report = app.webhooks.drain()
    print(json.dumps({
        "inside": inside,
        "completion_id": completion.pk,
        "rows": app.CourseCompletion.objects.count(),
        "delivered": report.delivered,
        "attempts": report.attempts,
    }))
    app.webhooks.close()
    """
)


def test_saves_emit_in_their_transaction_and_drain_delivers(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "LMS_DB": str(tmp_path / "lms.sqlite3"),
        "DJANGO_DEBUG": "1",
    }
    with loopback_receiver(SECRET) as receiver:
        result = subprocess.run(
            [sys.executable, "-c", SCRIPT, str(HOSTS), SECRET, receiver.url()],
            env=env,
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        outcome = json.loads(result.stdout.strip().splitlines()[-1])
        received = receiver.received
    assert outcome["inside"] == 0  # nothing is stored before Django commits
    assert outcome["rows"] == 1  # the rolled-back save left no row ...
    assert (outcome["delivered"], outcome["attempts"]) == (2, 2)  # ... and sent nothing
    assert all(entry.verified for entry in received)
    assert sorted(entry.topic or "" for entry in received) == [
        "course/completion/create",
        "course/completion/update",
    ]
    by_topic = {entry.topic: entry.data for entry in received}
    assert by_topic["course/completion/create"] == {
        "completion_id": outcome["completion_id"],
        "student_id": 3,
        "course_id": 7,
        "approved": False,
    }
    assert by_topic["course/completion/update"]["approved"] is True


def test_the_script_runs(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "LMS_DB": str(tmp_path / "lms.sqlite3"),
        "DJANGO_DEBUG": "1",
    }
    result = subprocess.run(
        [sys.executable, str(HOSTS / "django_app.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "inside the transaction: 0 deliveries" in result.stdout
    assert "after the commit: 1 delivery" in result.stdout
