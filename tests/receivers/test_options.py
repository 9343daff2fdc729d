"""Every helper checks its verify() options when it is built, not at the first request."""

from __future__ import annotations

from typing import Any

import pytest

SECRET = "s3cret-from-the-acadio-portal"


def build_django(**options: Any) -> Any:
    from acadio_webhooks.receivers.django import webhook_view

    return webhook_view(SECRET, **options)


def build_flask(**options: Any) -> Any:
    from acadio_webhooks.receivers.flask import verify_webhook

    return verify_webhook(SECRET, **options)


def build_starlette(**options: Any) -> Any:
    from acadio_webhooks.receivers.starlette import verify_webhook

    return verify_webhook(SECRET, **options)


def build_fastapi(**options: Any) -> Any:
    from acadio_webhooks.receivers.fastapi import WebhookVerifier

    return WebhookVerifier(SECRET, **options)


@pytest.mark.parametrize("build", [build_django, build_flask, build_starlette, build_fastapi])
def test_a_misspelt_option_is_refused_at_once(build: Any) -> None:
    with pytest.raises(TypeError, match="tolerence"):
        build(tolerence=600)


@pytest.mark.parametrize("build", [build_django, build_flask, build_starlette, build_fastapi])
def test_every_verify_option_is_accepted(build: Any) -> None:
    from acadio_webhooks import MemoryReplayGuard

    assert build(tolerance=60, now=0.0, require_timestamp=False, replay_guard=MemoryReplayGuard())
