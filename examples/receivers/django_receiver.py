"""A single-file Django project that receives acadio webhooks.

Run it with the integration's secret key in the environment::

    ACADIO_WEBHOOK_SECRET='the secret from the portal' python django_receiver.py runserver

In a real project, put ``ACADIO_WEBHOOK_SECRET`` in your settings and the view in an app's
``views.py``. ``verify`` needs the raw body exactly as it arrived: ``request.body``. Acadio
cannot send a CSRF token, so the view is ``csrf_exempt``: the signature is its protection.
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
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from acadio_webhooks import (
    InvalidSecret,
    MemoryReplayGuard,
    ReceivedEvent,
    VerificationError,
    verify,
)

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


@csrf_exempt
@require_POST
def receive_acadio_webhook(request: HttpRequest) -> JsonResponse:
    try:
        event = verify(
            request.body,
            request.headers,
            settings.ACADIO_WEBHOOK_SECRET,
            replay_guard=replay_guard,
        )
    except InvalidSecret:
        # Our configuration is wrong, not the request: answer 5xx so Acadio retries later.
        logger.exception("settings.ACADIO_WEBHOOK_SECRET is missing or empty")
        return JsonResponse({"error": "receiver_misconfigured"}, status=500)
    except VerificationError as error:
        return JsonResponse({"error": error.reason, "detail": str(error)}, status=400)
    handle(event)
    return JsonResponse({"received": event.id, "topic": event.topic, "data": event.data})


urlpatterns = [path("webhooks/acadio", receive_acadio_webhook)]

app = get_wsgi_application()

if __name__ == "__main__":
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
