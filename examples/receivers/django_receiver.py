"""A single-file Django project that receives acadio webhooks.

Run it with the integration's secret key in the environment::

    ACADIO_WEBHOOK_SECRET='the secret from the portal' python django_receiver.py runserver

In a real project, put ``ACADIO_WEBHOOK_SECRET`` in your settings and the view in an app's
``views.py``. ``webhook_view`` checks each request before the view runs, on the raw
``request.body``; it answers 405 to anything but POST and makes the view ``csrf_exempt``
(Acadio cannot send a CSRF token: the signature is the view's protection).
"""

from __future__ import annotations

import logging
import os
import secrets
import sys

import django
from django.conf import settings
from django.core.wsgi import get_wsgi_application
from django.http import HttpRequest, JsonResponse
from django.urls import path

from acadio_webhooks import MemoryReplayGuard, ReceivedEvent
from acadio_webhooks.receivers.django import webhook_view

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY=os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(50),
        ALLOWED_HOSTS=["localhost", "127.0.0.1", "testserver"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=[
            "django.middleware.security.SecurityMiddleware",
            "django.middleware.common.CommonMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
        ],
        ACADIO_WEBHOOK_SECRET=os.environ.get("ACADIO_WEBHOOK_SECRET", ""),
    )
    django.setup()

logger = logging.getLogger(__name__)

# Remembers accepted messages so a captured request cannot be replayed within the tolerance.
# One per process: with several worker processes, use a shared store (see docs/receiving.md).
replay_guard = MemoryReplayGuard()


def handle(event: ReceivedEvent) -> None:
    """Your business logic. Acadio may deliver an event twice: skip ids already processed."""
    logger.info("acadio event %s %s for %s", event.id, event.topic, event.tenant)


# The secret is read from settings on every request: a rotated secret needs no restart. If it
# is empty, the helper logs an error and answers 500, so Acadio retries once it is set.
@webhook_view(secret=lambda: settings.ACADIO_WEBHOOK_SECRET, replay_guard=replay_guard)
def receive_acadio_webhook(request: HttpRequest, event: ReceivedEvent) -> JsonResponse:
    handle(event)
    return JsonResponse({"received": event.id, "topic": event.topic, "data": event.data})


urlpatterns = [path("webhooks/acadio", receive_acadio_webhook)]

app = get_wsgi_application()

if __name__ == "__main__":
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
