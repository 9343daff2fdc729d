"""A single-file Django app that sends a webhook when a course completion is saved.

A ``post_save`` receiver on the ``CourseCompletion`` model emits
``course/completion/create`` (or ``.../update``) through ``transaction.on_commit``, so the
event is stored only once Django's transaction has committed: a rolled-back save sends
nothing. A worker then delivers it (here ``webhooks.drain()``; in production
``webhooks.start_worker()`` at start-up, or ``acadio-webhooks worker`` processes).

**The at-least-once caveat of on_commit.** ``on_commit`` runs *after* the COMMIT, outside
the transaction. If the process dies between Django's commit and the ``emit`` (or the
webhooks database is down at that moment), the completion is saved and its event is lost:
at most once across that gap. Every other step is at least once. For no gap at all, the
event must be written in the *same* transaction as the data — the transactional outbox,
``emit(..., connection=conn)`` with a SQLAlchemy connection to the same database (see
``sqlalchemy_outbox.py``). Django's ORM connection is not a SQLAlchemy ``Connection``, so a
Django host either accepts the small gap shown here, or writes its data through SQLAlchemy
where the guarantee matters.

Configuration comes from the environment (a real project uses its settings module):
``LMS_DB`` (Django's SQLite file), ``WEBHOOKS_DB`` (the webhooks store URL) and
``DJANGO_DEBUG=1``, which also lets endpoints be ``http://`` or loopback — local development
only. Run it: ``DJANGO_DEBUG=1 python examples/hosts/django_app.py``.
"""

from __future__ import annotations

import os
from typing import Any

import django
from django.conf import settings

if not settings.configured:
    settings.configure(
        DEBUG=os.environ.get("DJANGO_DEBUG") == "1",
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": os.environ.get("LMS_DB", "lms.sqlite3"),
            }
        },
        INSTALLED_APPS=[],
        USE_TZ=True,
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
    )
    django.setup()

from django.db import connection, models, transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from acadio_webhooks import Dispatcher, EndpointPolicy

# One dispatcher per process, like a database connection pool.
webhooks = Dispatcher(
    os.environ.get("WEBHOOKS_DB", "sqlite:///webhooks.db"),
    endpoint_policy=EndpointPolicy(allow_insecure=settings.DEBUG),  # http:// only in DEBUG
)


class CourseCompletion(models.Model):
    """The LMS's own record: a student completed a course."""

    tenant = models.CharField(max_length=255)
    student_id = models.IntegerField()
    course_id = models.IntegerField()
    approved = models.BooleanField(default=False)

    class Meta:
        app_label = "lms"


@receiver(post_save, sender=CourseCompletion)
def completion_saved(
    sender: type[CourseCompletion], instance: CourseCompletion, created: bool, **kwargs: Any
) -> None:
    """Emit the completion's webhook once the saving transaction commits."""
    topic = "course/completion/create" if created else "course/completion/update"
    # Read the fields now: the instance may change before the commit.
    data = {
        "completion_id": instance.pk,
        "student_id": instance.student_id,
        "course_id": instance.course_id,
        "approved": instance.approved,
    }
    tenant = instance.tenant
    transaction.on_commit(lambda: webhooks.emit(topic, data, tenant=tenant))


def create_tables() -> None:
    """Create the model's table (a real project runs ``manage.py migrate``)."""
    if CourseCompletion._meta.db_table not in connection.introspection.table_names():
        with connection.schema_editor() as editor:
            editor.create_model(CourseCompletion)


def main() -> None:
    create_tables()
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
