"""The receiver code docs/receiving.md shows runs, and does what the page says.

Each Python block of the page that uses a helper (and the block answering like the helpers
with bare ``verify()``) is executed as written, with ``handle`` supplied as the user's code,
then sent a signed, a re-serialised and a misconfigured request.
"""

from __future__ import annotations

import json
import re
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from acadio_webhooks import ReceivedEvent
from acadio_webhooks.testing import signed_request
from tests.receivers.apps import (
    Reply,
    asgi_harness,
    configure_django,
    django_overrides,
    flask_harness,
)

PAGE = Path(__file__).resolve().parents[2] / "docs" / "receiving.md"
SECRET = "s3cret-from-the-acadio-portal"
BLOCKS = re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), flags=re.DOTALL)

Post = Callable[[bytes, dict[str, str], str], Reply]
"""Post a body and headers to a snippet's app, configured with the given secret."""


def block_using(text: str) -> str:
    (block,) = [block for block in BLOCKS if text in block]
    return block


def run_block(code: str, handled: list[ReceivedEvent], name: str) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__["handle"] = handled.append
    sys.modules[name] = module  # Django resolves its URLconf by module name
    exec(compile(code, f"{PAGE}:{name}", "exec"), module.__dict__)
    return module


def from_environment(send: Any, monkeypatch: pytest.MonkeyPatch) -> Post:
    """The Flask, FastAPI and Starlette snippets read the secret from the environment."""

    def post(body: bytes, headers: dict[str, str], secret: str) -> Reply:
        monkeypatch.setenv("ACADIO_WEBHOOK_SECRET", secret)
        reply: Reply = send("POST", body, headers)
        return reply

    return post


def flask_page(handled: list[ReceivedEvent], monkeypatch: pytest.MonkeyPatch) -> Post:
    module = run_block(block_using("receivers.flask import"), handled, "page_flask")
    return from_environment(flask_harness(module.app), monkeypatch)


def fastapi_page(handled: list[ReceivedEvent], monkeypatch: pytest.MonkeyPatch) -> Post:
    module = run_block(block_using("receivers.fastapi import"), handled, "page_fastapi")
    return from_environment(asgi_harness(module.app, nested=True), monkeypatch)


def starlette_page(handled: list[ReceivedEvent], monkeypatch: pytest.MonkeyPatch) -> Post:
    module = run_block(block_using("receivers.starlette import"), handled, "page_starlette")
    return from_environment(asgi_harness(module.app, nested=False), monkeypatch)


def django_page(handled: list[ReceivedEvent], monkeypatch: pytest.MonkeyPatch) -> Post:
    """The Django snippet reads the secret from settings; its views.py and urls.py run."""
    configure_django()
    from django.test import Client

    _settings_py, views_and_urls = block_using("receivers.django import").split("# views.py\n")
    run_block(views_and_urls, handled, "page_django")
    client = Client(enforce_csrf_checks=True)

    def post(body: bytes, headers: dict[str, str], secret: str) -> Reply:
        with django_overrides(ROOT_URLCONF="page_django", ACADIO_WEBHOOK_SECRET=secret):
            response = client.post(
                "/webhooks/acadio",
                data=body,
                content_type="application/json",
                headers={k: v for k, v in headers.items() if k.lower() != "content-type"},
            )
        document = json.loads(response.content)
        return Reply(response.status_code, document, document)

    return post


PAGES = {
    "django": django_page,
    "flask": flask_page,
    "fastapi": fastapi_page,
    "starlette": starlette_page,
}


@pytest.fixture(params=sorted(PAGES))
def page_app(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Post, list[ReceivedEvent]]]:
    handled: list[ReceivedEvent] = []
    try:
        yield PAGES[request.param](handled, monkeypatch), handled
    finally:
        sys.modules.pop(f"page_{request.param}", None)


def test_the_page_shows_one_block_per_helper() -> None:
    for framework in PAGES:
        assert block_using(f"receivers.{framework} import")


def test_each_snippet_accepts_a_signed_delivery_and_refuses_reserialised_json(
    page_app: tuple[Post, list[ReceivedEvent]],
) -> None:
    post, handled = page_app
    body, headers = signed_request({"n": 1}, SECRET, topic="course/completion/create", tenant="t")

    accepted = post(body, headers, SECRET)
    refused = post(json.dumps(json.loads(body)).encode(), headers, SECRET)
    replayed = post(body, headers, SECRET)

    assert (accepted.status, accepted.body) == (200, {"received": headers["webhook-id"]})
    assert (refused.status, refused.refusal["error"]) == (400, "bad_signature")
    assert (replayed.status, replayed.refusal["error"]) == (400, "replayed")
    assert [event.id for event in handled] == [headers["webhook-id"]]


def test_the_bare_verify_snippet_answers_like_the_helpers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    handled: list[ReceivedEvent] = []
    receive: Any = run_block(block_using("def receive("), handled, "page_verify").receive
    body, headers = signed_request({"n": 1}, SECRET, topic="course/completion/create", tenant="t")
    try:
        assert receive(body, headers, SECRET) == (200, {"received": headers["webhook-id"]})
        status, refusal = receive(body + b" ", headers, SECRET)
        assert (status, refusal["error"]) == (400, "bad_signature")
        assert receive(body, headers, "") == (500, {"error": "receiver_misconfigured"})
        assert "secret is missing or empty" in caplog.text
    finally:
        sys.modules.pop("page_verify", None)
