"""Django specifics of ``webhook_view``: POST only, CSRF-exempt, settings read lazily, URL
arguments passed on, and a replay guard kept off the event loop in async views."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from acadio_webhooks import ReceivedEvent
from acadio_webhooks.testing import signed_request
from tests.receivers.apps import configure_django, django_harness, django_overrides

SECRET = "s3cret-from-the-acadio-portal"


@pytest.fixture
def stack() -> Iterator[contextlib.ExitStack]:
    with contextlib.ExitStack() as stack:
        yield stack


def delivery(secret: str = SECRET) -> tuple[bytes, dict[str, str]]:
    return signed_request({"course_id": 7}, secret, topic="course/completion/create", tenant="t")


def test_only_post_reaches_the_view(stack: contextlib.ExitStack) -> None:
    from django.http import JsonResponse

    from acadio_webhooks.receivers.django import webhook_view

    ran = []

    @webhook_view(SECRET)
    def receive(request: Any, event: ReceivedEvent) -> Any:
        ran.append(event)
        return JsonResponse({})

    send = django_harness(stack, receive)
    body, headers = delivery()

    reply = send("GET", b"", {})

    assert reply.status == 405
    assert ran == []
    assert receive.csrf_exempt is True  # type: ignore[attr-defined]
    assert send("POST", body, headers).status == 200


def test_the_secret_is_read_from_settings_on_every_request(stack: contextlib.ExitStack) -> None:
    configure_django()
    from django.conf import settings
    from django.http import JsonResponse

    from acadio_webhooks.receivers.django import webhook_view

    @webhook_view(secret=lambda: settings.ACADIO_WEBHOOK_SECRET)
    def receive(request: Any, event: ReceivedEvent) -> Any:
        return JsonResponse({"received": event.id})

    send = django_harness(stack, receive)

    with django_overrides(ACADIO_WEBHOOK_SECRET="first-s3cret-value"):
        assert send("POST", *delivery("first-s3cret-value")).status == 200
    with django_overrides(ACADIO_WEBHOOK_SECRET="second-s3cret-value"):
        assert send("POST", *delivery("second-s3cret-value")).status == 200
        refused = send("POST", *delivery("first-s3cret-value"))
    assert (refused.status, refused.refusal["error"]) == (400, "bad_signature")


def test_url_arguments_follow_the_event(stack: contextlib.ExitStack) -> None:
    from django.http import JsonResponse

    from acadio_webhooks.receivers.django import webhook_view

    @webhook_view(SECRET)
    def receive(request: Any, event: ReceivedEvent, *, tenant: str) -> Any:
        return JsonResponse({"tenant": tenant, "received": event.id})

    send = django_harness(stack, receive, route="<str:tenant>/hook", url="/acme/hook")
    body, headers = delivery()

    reply = send("POST", body, headers)

    assert (reply.status, reply.body) == (
        200,
        {"tenant": "acme", "received": headers["webhook-id"]},
    )


def test_an_async_view_consults_the_replay_guard_off_the_event_loop(
    stack: contextlib.ExitStack,
) -> None:
    from django.http import JsonResponse

    from acadio_webhooks import MemoryReplayGuard
    from acadio_webhooks.receivers.django import webhook_view

    threads: dict[str, int] = {}

    class RecordingGuard(MemoryReplayGuard):
        def seen(self, key: str, expires_at: float) -> bool:
            threads["guard"] = threading.get_ident()
            return super().seen(key, expires_at)

    @webhook_view(SECRET, replay_guard=RecordingGuard())
    async def receive(request: Any, event: ReceivedEvent) -> Any:
        threads["view"] = threading.get_ident()
        return JsonResponse({"received": event.id})

    send = django_harness(stack, receive)
    body, headers = delivery()

    assert send("POST", body, headers).status == 200
    assert threads["guard"] != threads["view"]
    assert send("POST", body, headers).refusal["error"] == "replayed"
