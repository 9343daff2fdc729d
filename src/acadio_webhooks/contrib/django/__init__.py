"""acadio-webhooks as a Django app.

Add ``"acadio_webhooks.contrib.django"`` to ``INSTALLED_APPS`` and run ``manage.py migrate``;
then, anywhere in the project::

    from django.db import transaction
    from acadio_webhooks.contrib.django import emit

    with transaction.atomic():
        completion = CourseCompletion.objects.create(...)
        emit("course/completion/create", {"id": completion.pk}, tenant=school.slug)

The event is written on Django's own connection inside the caller's transaction: a rollback
stores nothing, a commit makes it due. ``manage.py acadio_webhooks worker`` delivers;
the admin lists integrations, subscriptions, deliveries and attempts. Settings:
:class:`~acadio_webhooks.contrib.django._conf.WebhookSettings` (``settings.ACADIO_WEBHOOKS``).
"""

from __future__ import annotations

from acadio_webhooks.contrib.django._emit import emit, emit_many, emit_on_save, webhooks

__all__ = ["emit", "emit_many", "emit_on_save", "webhooks"]
