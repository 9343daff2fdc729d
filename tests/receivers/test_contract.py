"""What every receiver helper promises, in Django, Flask, Starlette and FastAPI alike: the
view runs with the verified event, or the request is refused with the reason and the view
never runs."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel

from acadio_webhooks import MemoryReplayGuard
from acadio_webhooks.testing import sign_headers, signed_request
from tests.receivers.apps import Harness, Reply

SECRET = "s3cret-from-the-acadio-portal"
OLD_SECRET = "the-previous-s3cret-being-rotated-out"
TOPIC = "course/completion/create"
DATA = {"course_id": 42, "learner": "Zoë", "score": 0.93}

MakeReceiver = Callable[..., Harness]


def delivery(secret: Any = SECRET, **kwargs: Any) -> tuple[bytes, dict[str, str]]:
    return signed_request(DATA, secret, topic=TOPIC, tenant="acme", **kwargs)


def assert_refused(receiver: Harness, reply: Reply, reason: str) -> None:
    assert reply.status == 400
    assert reply.refusal["error"] == reason
    assert set(reply.refusal) == {"error", "detail"}
    assert reply.refusal["detail"]
    assert SECRET not in reply.refusal["detail"]
    assert receiver.handled == []


def test_a_signed_delivery_reaches_the_view_with_its_event(make_receiver: MakeReceiver) -> None:
    receiver = make_receiver(SECRET)
    body, headers = delivery()

    reply = receiver.post(body, headers)

    assert (reply.status, reply.body) == (200, {"received": headers["webhook-id"]})
    (event,) = receiver.handled
    assert (event.id, event.topic, event.tenant, event.data) == (
        headers["webhook-id"],
        TOPIC,
        "acme",
        DATA,
    )
    assert event.raw == body


def tampered(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    return body.replace(b"0.93", b"1.00"), headers


def stale(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    return body, sign_headers(body, SECRET, timestamp=int(time.time()) - 3600)


def without_signature(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    return body, {k: v for k, v in headers.items() if k != "webhook-signature"}


def signed_with_another_secret(
    body: bytes, headers: dict[str, str]
) -> tuple[bytes, dict[str, str]]:
    return body, sign_headers(body, "not-the-receivers-secret-at-all")


def reserialised(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    # What a view gets by parsing the JSON and dumping it again: the same event, but the
    # default separators add spaces, so these are not the bytes that were signed.
    return json.dumps(json.loads(body), ensure_ascii=False).encode(), headers


@pytest.mark.parametrize(
    ("alter", "reason"),
    [
        (tampered, "bad_signature"),
        (stale, "stale"),
        (without_signature, "missing_header"),
        (signed_with_another_secret, "bad_signature"),
        (reserialised, "bad_signature"),
    ],
    ids=lambda value: getattr(value, "__name__", value),
)
def test_a_failing_request_is_refused_with_the_reason_before_the_view_runs(
    make_receiver: MakeReceiver, alter: Any, reason: str
) -> None:
    receiver = make_receiver(SECRET)
    body, headers = alter(*delivery())

    reply = receiver.post(body, headers)

    assert_refused(receiver, reply, reason)


def test_reserialised_json_is_the_same_event_but_not_the_signed_bytes() -> None:
    body, headers = delivery()
    again, _ = reserialised(body, headers)

    assert json.loads(again) == json.loads(body)
    assert again != body


def test_a_secret_function_is_called_on_every_request(make_receiver: MakeReceiver) -> None:
    configured = {"secret": OLD_SECRET}
    receiver = make_receiver(lambda: configured["secret"])
    assert receiver.post(*delivery(OLD_SECRET)).status == 200

    configured["secret"] = SECRET  # rotated in the settings: no restart, no new app

    assert receiver.post(*delivery(SECRET)).status == 200
    stale_secret = receiver.post(*delivery(OLD_SECRET))
    assert (stale_secret.status, stale_secret.refusal["error"]) == (400, "bad_signature")
    assert len(receiver.handled) == 2


def test_during_a_rotation_either_secret_is_accepted(make_receiver: MakeReceiver) -> None:
    receiver = make_receiver([SECRET, OLD_SECRET])

    assert receiver.post(*delivery(OLD_SECRET)).status == 200
    assert receiver.post(*delivery(SECRET)).status == 200
    assert receiver.post(*delivery([SECRET, OLD_SECRET])).status == 200
    assert len(receiver.handled) == 3


def test_the_replay_guard_is_passed_through(make_receiver: MakeReceiver) -> None:
    receiver = make_receiver(SECRET, replay_guard=MemoryReplayGuard())
    body, headers = delivery()
    assert receiver.post(body, headers).status == 200
    receiver.handled.clear()

    reply = receiver.post(body, headers)

    assert_refused(receiver, reply, "replayed")


def test_tolerance_and_now_are_passed_through(make_receiver: MakeReceiver) -> None:
    signed_at = 1_772_530_201
    body, headers = delivery(timestamp=signed_at)

    # One app at a time: the Django harness serves the latest app at the webhook URL.
    lenient = make_receiver(SECRET, tolerance=600, now=signed_at + 500)
    assert lenient.post(body, headers).status == 200

    strict = make_receiver(SECRET, tolerance=60, now=signed_at + 500)
    assert_refused(strict, strict.post(body, headers), "stale")


def test_require_timestamp_false_is_passed_through(make_receiver: MakeReceiver) -> None:
    body, headers = delivery()
    documented_only = {
        k: v for k, v in headers.items() if not k.startswith("webhook-")
    }  # only X-Acadio-Hmac-Sha256, as an older sender sends
    lenient = make_receiver(SECRET, require_timestamp=False)
    assert lenient.post(body, documented_only).status == 200

    strict = make_receiver(SECRET)
    assert_refused(strict, strict.post(body, documented_only), "missing_header")


def test_an_unusable_secret_is_a_logged_server_error_so_acadio_retries(
    make_receiver: MakeReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver = make_receiver(lambda: "")  # e.g. the setting was never filled in

    with caplog.at_level(logging.ERROR, logger="acadio_webhooks.receivers"):
        reply = receiver.post(*delivery())

    assert (reply.status, reply.refusal) == (500, {"error": "receiver_misconfigured"})
    assert receiver.handled == []
    (record,) = [r for r in caplog.records if r.name == "acadio_webhooks.receivers"]
    assert record.levelno == logging.ERROR
    assert "secret" in record.getMessage()


class Completion(BaseModel):
    course_id: int
    learner: str
    score: float


class StrictCompletion(BaseModel):
    course_id: int
    passed: bool


def test_a_typed_helper_hands_the_view_data_parsed_into_the_model(
    make_receiver: MakeReceiver,
) -> None:
    receiver = make_receiver(SECRET, model=Completion)
    reply = receiver.post(*delivery())
    assert reply.status == 200
    (event,) = receiver.handled
    assert event.data == Completion(course_id=42, learner="Zoë", score=0.93)


def test_authentic_data_that_does_not_fit_the_model_is_422_and_the_view_never_runs(
    make_receiver: MakeReceiver,
) -> None:
    receiver = make_receiver(SECRET, model=StrictCompletion)
    reply = receiver.post(*delivery())
    assert reply.status == 422
    assert reply.refusal["error"] == "bad_data"
    assert "data['passed']: Field required" in reply.refusal["detail"]
    assert receiver.handled == []
