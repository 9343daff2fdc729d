"""Typed topics in the catalog: a pydantic model or a JSON Schema per topic, checked on emit."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pydantic
import pytest

from acadio_webhooks.domain.planning import new_event
from acadio_webhooks.domain.topics import TOPICS
from acadio_webhooks.errors import (
    FrozenCatalog,
    InvalidPayload,
    InvalidPayloadSchema,
    PayloadMismatch,
    TopicConflict,
    UnknownTopic,
)

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=timezone.utc)
COMPLETION = "course/completion/create"


class CourseCompletion(pydantic.BaseModel):
    student_id: int
    course_id: int
    score: float | None = None
    completed_on: str = pydantic.Field(alias="completedOn")


COMPLETION_SCHEMA: dict[str, Any] = {
    "title": "CourseCompletion",
    "type": "object",
    "properties": {
        "student_id": {"type": "integer"},
        "course_id": {"type": "integer"},
        "completed_at": {"type": "string", "format": "date-time"},
        "scores": {"type": "array", "items": {"type": "number"}},
    },
    "required": ["student_id", "course_id"],
}


def event_data(topic_name: str, data: Any) -> dict[str, Any]:
    catalog = TYPED
    event = new_event(topic=catalog[topic_name], data=data, tenant="acme", occurred_at=NOW)
    body: dict[str, Any] = pydantic.TypeAdapter(dict[str, Any]).validate_json(event.payload)
    return body["data"]  # type: ignore[no-any-return]


TYPED = TOPICS.copy()
TYPED.attach_schema(COMPLETION, CourseCompletion)
TYPED.register(
    "lab/result/create", "Lab Result", "A lab result was recorded.", schema=COMPLETION_SCHEMA
)


def test_a_model_typed_topic_sends_the_models_json_dump() -> None:
    data = event_data(COMPLETION, {"student_id": "7", "course_id": 3, "completedOn": "2026-12-01"})
    assert data == {"student_id": 7, "course_id": 3, "score": None, "completedOn": "2026-12-01"}


def test_a_model_instance_is_data_for_its_topic_and_for_an_untyped_one() -> None:
    completion = CourseCompletion(student_id=7, course_id=3, completedOn="2026-12-01")
    assert event_data(COMPLETION, completion)["student_id"] == 7
    assert event_data("identity/user/create", completion)["completedOn"] == "2026-12-01"


def test_bad_data_names_the_topic_and_every_field() -> None:
    with pytest.raises(PayloadMismatch) as caught:
        event_data(COMPLETION, {"student_id": "seven", "completedOn": "x"})
    error = caught.value
    assert isinstance(error, InvalidPayload)
    assert error.topic == COMPLETION
    assert set(error.problems) == {"data['student_id']", "data['course_id']"}
    assert "Field required" in error.problems["data['course_id']"]
    message = str(error)
    assert message.startswith(f"data does not fit topic {COMPLETION!r} (CourseCompletion v1): ")
    assert "seven" not in message, "the sent values stay out of the message"


def test_a_json_schema_topic_checks_types_formats_and_nested_places() -> None:
    good = {"student_id": 1, "course_id": 2, "completed_at": "2026-12-01T10:00:00Z", "x": 1}
    assert event_data("lab/result/create", good) == good, "sent unchanged"
    with pytest.raises(PayloadMismatch) as caught:
        event_data(
            "lab/result/create",
            {"student_id": 1, "completed_at": "yesterday", "scores": [1, "two"]},
        )
    problems = caught.value.problems
    assert set(problems) == {"data", "data['completed_at']", "data['scores'][1]"}
    assert "'course_id' is a required property" in problems["data"]
    assert "is not a 'date-time'" in problems["data['completed_at']"]


def test_untyped_topics_accept_any_json_object_as_before() -> None:
    assert event_data("identity/user/create", {"anything": [1, {"goes": True}]}) == {
        "anything": [1, {"goes": True}]
    }


def test_attaching_is_idempotent_and_refuses_a_different_schema() -> None:
    catalog = TOPICS.copy()
    first = catalog.attach_schema(COMPLETION, CourseCompletion)
    assert catalog.attach_schema(COMPLETION, CourseCompletion) is first
    with pytest.raises(TopicConflict, match="payload ModelSchema"):
        catalog.attach_schema(COMPLETION, CourseCompletion, version=2)
    with pytest.raises(FrozenCatalog):
        TOPICS.attach_schema(COMPLETION, CourseCompletion)
    with pytest.raises(UnknownTopic):
        catalog.attach_schema("course/nothing/create", CourseCompletion)
    schema = {"type": "object", "properties": {"score": {"type": "number"}}}
    typed = catalog.attach_schema("credits/credit/create", schema=dict(schema))
    assert catalog.attach_schema("credits/credit/create", schema=dict(schema)) is typed
    with pytest.raises(TopicConflict, match="payload JsonSchema"):
        catalog.attach_schema("credits/credit/create", schema={**schema, "required": ["score"]})


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"model": dict}, "model must be a pydantic BaseModel subclass"),
        ({"schema": {"type": "array"}}, "data is a JSON object, but the schema's type is 'array'"),
        (
            {"schema": {"type": "object", "properties": {"a": {"type": "integr"}}}},
            "schema['properties']['a']['type']",
        ),
        ({"model": CourseCompletion, "version": 0}, "version must be a whole number >= 1"),
    ],
)
def test_unusable_schemas_are_refused_when_attached(kwargs: dict[str, Any], problem: str) -> None:
    with pytest.raises(InvalidPayloadSchema, match=problem.replace("[", r"\[").replace("]", r"\]")):
        TOPICS.copy().attach_schema(COMPLETION, **kwargs)


def test_both_or_neither_of_model_and_schema_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="exactly one of model= and schema="):
        TOPICS.copy().attach_schema(COMPLETION)
    with pytest.raises(TypeError, match="exactly one of model= and schema="):
        TOPICS.copy().attach_schema(COMPLETION, CourseCompletion, schema=COMPLETION_SCHEMA)


def test_an_example_is_checked_when_attached_and_kept_as_sent() -> None:
    catalog = TOPICS.copy()
    topic = catalog.attach_schema(
        COMPLETION,
        CourseCompletion,
        example={"student_id": "0", "course_id": 0, "completedOn": "2026-01-01"},
    )
    assert topic.payload is not None
    assert topic.payload.example == {
        "student_id": 0,
        "course_id": 0,
        "score": None,
        "completedOn": "2026-01-01",
    }
    with pytest.raises(
        InvalidPayloadSchema, match=r"its example does not fit it: data\['course_id'\]"
    ):
        TOPICS.copy().attach_schema(COMPLETION, CourseCompletion, example={"student_id": 0})


def test_a_schemas_own_examples_give_the_example() -> None:
    class Exemplified(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(json_schema_extra={"examples": [{"course_id": 1}]})
        course_id: int

    typed = TOPICS.copy().attach_schema(COMPLETION, Exemplified)
    assert typed.payload is not None
    assert typed.payload.example == {"course_id": 1}
    listed = TOPICS.copy().attach_schema(
        COMPLETION, schema={**COMPLETION_SCHEMA, "examples": [{"student_id": 1, "course_id": 2}]}
    )
    assert listed.payload is not None
    assert listed.payload.example == {"student_id": 1, "course_id": 2}
    with pytest.raises(InvalidPayloadSchema, match="its example does not fit it"):
        TOPICS.copy().attach_schema(
            COMPLETION, schema={**COMPLETION_SCHEMA, "examples": [{"student_id": "x"}]}
        )
