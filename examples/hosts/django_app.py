"""A single-file Django project whose course completions send webhooks: the Django app.

``acadio_webhooks.contrib.django`` is in ``INSTALLED_APPS``; ``migrate`` creates the webhook
tables in the project's own database; one ``emit_on_save`` line makes every saved
``CourseCompletion`` emit ``course/completion/create`` (or ``.../update``). The event is
written on Django's connection **inside the saving transaction** — a true outbox: a
rolled-back save sends nothing, and a committed one can never lose its event. A worker then
delivers (here ``webhooks.drain()``; in production ``manage.py acadio_webhooks worker``).

Configuration comes from the environment (a real project uses its settings module):
``LMS_DB`` (the project's SQLite file) and ``DJANGO_DEBUG=1``, which also lets endpoints be
``http://`` or loopback — local development only. Run it:
``DJANGO_DEBUG=1 python examples/hosts/django_app.py``.
"""

from __future__ import annotations

import os

import django
from django.conf import settings

if not settings.configured:
    debug = os.environ.get("DJANGO_DEBUG") == "1"
    settings.configure(
        DEBUG=debug,
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": os.environ.get("LMS_DB", "lms.sqlite3"),
            }
        },
        INSTALLED_APPS=["acadio_webhooks.contrib.django"],
        # http:// and loopback endpoints only while developing.
        ACADIO_WEBHOOKS={"ALLOW_INSECURE_ENDPOINTS": debug},
        USE_TZ=True,
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
    )
    django.setup()

from django.core.management import call_command
from django.db import connection, models, transaction

from acadio_webhooks.contrib.django import emit_on_save
from acadio_webhooks.contrib.django import webhooks as project_webhooks


class CourseCompletion(models.Model):
    """The LMS's own record: a student completed a course."""

    tenant = models.CharField(max_length=255)
    student_id = models.IntegerField()
    course_id = models.IntegerField()
    approved = models.BooleanField(default=False)

    class Meta:
        app_label = "lms"


# One line: every save emits, in the saving transaction.
emit_on_save(
    CourseCompletion,
    created="course/completion/create",
    updated="course/completion/update",
    data=lambda completion: {
        "completion_id": completion.pk,
        "student_id": completion.student_id,
        "course_id": completion.course_id,
        "approved": completion.approved,
    },
    tenant=lambda completion: completion.tenant,
)


def create_tables() -> None:
    """``migrate`` (the webhook tables) and the model's table (a real project's own app
    would have a migration for it)."""
    call_command("migrate", verbosity=0)
    if CourseCompletion._meta.db_table not in connection.introspection.table_names():
        with connection.schema_editor() as editor:
            editor.create_model(CourseCompletion)


create_tables()
webhooks = project_webhooks()  # the project's Dispatcher: admin flow, drain, resend


def main() -> None:
    integration = webhooks.integrations.install("tenant-42", secret="s3cret-key-16-chars+")
    endpoint = "http://127.0.0.1:8000/hooks" if settings.DEBUG else "https://hooks.example.com/"
    webhooks.integrations.subscribe(integration.id, "course/completion/*", endpoint)
    with transaction.atomic():
        completion = CourseCompletion.objects.create(tenant="tenant-42", student_id=3, course_id=7)
        print("inside the transaction:", len(webhooks.deliveries().items), "deliveries")
    print("after the commit:", len(webhooks.deliveries().items), "delivery for", completion)
    webhooks.close()


if __name__ == "__main__":
    main()
