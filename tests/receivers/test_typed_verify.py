"""``verify(model=)``: an authentic event's data parsed into the receiver's model, or one
clear ``DataMismatch`` naming every field, after (never instead of) the signature checks."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest
from typing_extensions import TypedDict

from acadio_webhooks import (
    BadSignature,
    DataMismatch,
    MemoryReplayGuard,
    ReceivedEvent,
    VerificationError,
    verify,
)
from acadio_webhooks.testing import signed_request

SECRET = "s3cret-from-the-acadio-portal"


class Completion(pydantic.BaseModel):
    student_id: int
    course_id: int
    score: float | None = None


class CompletionDict(TypedDict):
    student_id: int
    course_id: int


def delivery(data: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    return signed_request(data, SECRET, topic="course/completion/create", tenant="acme")


def test_data_is_parsed_into_the_model_and_the_rest_of_the_event_is_unchanged() -> None:
    body, headers = delivery({"student_id": 7, "course_id": 3, "extra": "ignored"})
    event: ReceivedEvent[Completion] = verify(body, headers, SECRET, model=Completion)
    assert event.data == Completion(student_id=7, course_id=3)
    assert (event.id, event.raw) == (headers["webhook-id"], body)
    plain = verify(body, headers, SECRET)
    assert plain.data == {"student_id": 7, "course_id": 3, "extra": "ignored"}


def test_any_type_pydantic_validates_is_a_model() -> None:
    body, headers = delivery({"student_id": 7, "course_id": 3})
    assert verify(body, headers, SECRET, model=CompletionDict).data == {
        "student_id": 7,
        "course_id": 3,
    }


def test_data_that_does_not_fit_names_every_field_and_is_a_verification_error() -> None:
    body, headers = delivery({"student_id": "seven", "score": "high"})
    with pytest.raises(DataMismatch) as caught:
        verify(body, headers, SECRET, model=Completion)
    error = caught.value
    assert isinstance(error, VerificationError)
    assert error.reason == "bad_data"
    assert set(error.problems) == {"data['student_id']", "data['course_id']", "data['score']"}
    assert "does not fit Completion" in str(error)
    assert "seven" not in str(error)
    assert SECRET not in str(error)


def test_a_forged_request_is_refused_for_its_signature_before_its_data_is_looked_at() -> None:
    body, headers = delivery({"student_id": "seven"})
    with pytest.raises(BadSignature):
        verify(body, headers, "another-s3cret-entirely", model=Completion)


def test_a_mismatch_is_not_remembered_by_the_replay_guard() -> None:
    guard = MemoryReplayGuard()
    body, headers = delivery({"student_id": 7})
    with pytest.raises(DataMismatch):
        verify(body, headers, SECRET, model=Completion, replay_guard=guard)
    # A receiver fixed to accept the data then takes the sender's retry of the same message.
    assert verify(body, headers, SECRET, replay_guard=guard).data == {"student_id": 7}
