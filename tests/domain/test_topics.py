"""The topic grammar and the catalog, checked against the customer documentation itself."""

from __future__ import annotations

import dataclasses
import doctest
import re
from pathlib import Path

import pytest
from hypothesis import given

from acadio_webhooks.domain import topics as topics_module
from acadio_webhooks.domain.patterns import Pattern
from acadio_webhooks.domain.topics import TOPICS, Topic, TopicCatalog, validate_topic
from acadio_webhooks.errors import (
    AcadioWebhooksError,
    FrozenCatalog,
    InvalidPattern,
    InvalidTopic,
    TopicConflict,
    UnknownTopic,
)
from tests.strategies import REFERENCE_TOPIC, grammar_like_text, invalid_topics, topics

# A verbatim copy of the public page (shared/seed/webhooks-documentation.txt).
DOCUMENTATION = Path(__file__).parent.parent / "data" / "webhooks-documentation.txt"

_ENTRY = re.compile(
    r"^\s*•\s*(?P<title>[^\n]+?)\s*\n\s*\n\s*Pattern:\s*(?P<name>\S+)\s*\n\s*(?P<text>[^\n]+?)\s*$",
    re.MULTILINE,
)


def documented_topics() -> list[tuple[str, str, str, str | None]]:
    """(name, title, description, note) for every "Pattern:" entry of the page, in order."""
    entries = []
    for found in _ENTRY.finditer(DOCUMENTATION.read_text(encoding="utf-8")):
        description, _, note = found["text"].partition(" * ")
        entries.append((found["name"], found["title"], description, note or None))
    return entries


def test_the_documentation_lists_sixteen_topics() -> None:
    assert len(documented_topics()) == 16


def test_catalog_is_exactly_the_documented_topics_in_order() -> None:
    assert [topic.name for topic in TOPICS] == [entry[0] for entry in documented_topics()]
    assert len(TOPICS) == 16


@pytest.mark.parametrize(
    ("name", "title", "description", "note"), documented_topics(), ids=lambda v: str(v)[:40]
)
def test_each_documented_topic_is_copied_word_for_word(
    name: str, title: str, description: str, note: str | None
) -> None:
    topic = TOPICS[name]
    assert topic.title == title
    assert topic.description == description
    assert topic.note == note
    assert topic.once_per_day == (note is not None and "once a day" in note)


def test_only_activity_create_fires_at_most_once_a_day() -> None:
    assert [topic.name for topic in TOPICS if topic.once_per_day] == ["course/activity/create"]
    assert TOPICS["course/activity/create"].note == "This event fires (at most) once a day."
    assert TOPICS["course/activity/create"].description == "A student has started an activity."


# -- the grammar --------------------------------------------------------------------------------

INVALID_TOPICS = [
    ("course/*", 7, "'*' is a pattern wildcard"),
    ("*", 0, "'*' is a pattern wildcard"),
    ("Course/completion/create", 0, "uppercase 'C' is not allowed; use 'c'"),
    ("course/completion/Create", 18, "uppercase 'C'"),
    ("", 0, "is empty"),
    ("/course/completion/create", 0, "starts with '/'"),
    ("course/completion/create/", 24, "ends with '/'"),
    ("course//create", 7, "empty segment"),
    ("course/completion/create ", 24, "character ' ' is not allowed"),
    ("course.completion.create", 6, "character '.' is not allowed"),
    ("c" * 256, 255, "is 256 characters long; the limit is 255"),
]


@pytest.mark.parametrize(("text", "position", "problem"), INVALID_TOPICS)
def test_invalid_topic_table(text: str, position: int, problem: str) -> None:
    with pytest.raises(InvalidTopic) as caught:
        validate_topic(text)
    assert caught.value.position == position
    assert problem in caught.value.problem
    assert str(caught.value).startswith("invalid topic ")
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, AcadioWebhooksError)


def test_the_empty_topic_error_has_no_pattern_hint() -> None:
    with pytest.raises(InvalidTopic) as caught:
        validate_topic("")
    assert "'*'" not in caught.value.problem


@pytest.mark.parametrize("text", ["course", "a/b", "x_1/y-2/z/0/9", "c" * 255])
def test_valid_topics_are_returned_unchanged(text: str) -> None:
    assert validate_topic(text) == text


def test_topic_must_be_a_string() -> None:
    with pytest.raises(TypeError, match="a topic must be a str, not bytes"):
        validate_topic(b"course/completion/create")  # type: ignore[arg-type]


@given(text=topics)
def test_generated_topics_validate(text: str) -> None:
    assert validate_topic(text) == text


@given(text=invalid_topics)
def test_broken_topics_always_raise(text: str) -> None:
    with pytest.raises(InvalidTopic):
        validate_topic(text)


@given(text=grammar_like_text)
def test_accepts_exactly_the_topic_grammar(text: str) -> None:
    if REFERENCE_TOPIC.fullmatch(text) and len(text) <= 255:
        assert validate_topic(text) == text
    else:
        with pytest.raises(InvalidTopic):
            validate_topic(text)


def test_docstring_examples_run() -> None:
    results = doctest.testmod(topics_module)
    assert results.attempted >= 3
    assert results.failed == 0


# -- Topic and TopicCatalog ---------------------------------------------------------------------


def test_topic_is_frozen_and_checks_its_name() -> None:
    topic = TOPICS["identity/user/create"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        topic.title = "Changed"  # type: ignore[misc]
    with pytest.raises(InvalidTopic, match="uppercase"):
        Topic("Identity/user/create", "User Created", "A new user was created.")


def test_lookup_by_name() -> None:
    assert "course/completion/create" in TOPICS
    assert TOPICS["course/completion/create"] in TOPICS
    assert "course/completion/delete" not in TOPICS
    assert "Course/completion/create" not in TOPICS
    assert 42 not in TOPICS
    assert dataclasses.replace(TOPICS["course/completion/create"], title="Other") not in TOPICS
    assert TOPICS.get("surveys/survey/update") == TOPICS["surveys/survey/update"]
    assert TOPICS.get("surveys/survey/delete") is None


def test_getitem_separates_unknown_from_malformed() -> None:
    with pytest.raises(UnknownTopic, match="'course/completion/delete'") as caught:
        TOPICS["course/completion/delete"]
    assert isinstance(caught.value, LookupError)
    with pytest.raises(InvalidTopic, match="uppercase"):
        TOPICS["Course/completion/create"]


def test_default_catalog_is_read_only() -> None:
    with pytest.raises(FrozenCatalog, match=r"TOPICS\.copy\(\)") as caught:
        TOPICS.register("course/course/create", "Course Created", "A course was created.")
    assert isinstance(caught.value, TypeError)
    assert "course/course/create" not in TOPICS
    assert TOPICS.frozen
    assert len(TOPICS) == 16


def test_register_on_a_copy_leaves_the_default_alone() -> None:
    catalog = TOPICS.copy()
    assert not catalog.frozen
    added = catalog.register(
        "course/course/create", "Course Created", "A course was created.", once_per_day=True
    )
    assert catalog["course/course/create"] is added
    assert added.once_per_day
    assert len(catalog) == 17
    assert list(catalog)[-1] is added
    assert "course/course/create" not in TOPICS
    assert [topic.name for topic in catalog.copy()] == [topic.name for topic in catalog]


def test_register_is_idempotent_for_identical_details() -> None:
    catalog = TopicCatalog()
    first = catalog.register("lms/badge/award", "Badge Awarded", "A badge was awarded.")
    again = catalog.register("lms/badge/award", "Badge Awarded", "A badge was awarded.")
    assert again is first
    assert len(catalog) == 1


def test_register_refuses_different_details_under_the_same_name() -> None:
    catalog = TOPICS.copy()
    with pytest.raises(TopicConflict, match=r"description 'A user was updated\.'") as caught:
        catalog.register("identity/user/update", "User Updated", "Someone changed a user.")
    assert isinstance(caught.value, ValueError)
    assert caught.value.topic == "identity/user/update"
    with pytest.raises(TopicConflict, match="once_per_day False"):
        catalog.register("identity/user/update", "User Updated", "A user was updated.",
                         once_per_day=True)  # fmt: skip
    assert catalog["identity/user/update"] == TOPICS["identity/user/update"]


def test_register_checks_the_name() -> None:
    with pytest.raises(InvalidTopic, match="'\\*' is a pattern wildcard"):
        TopicCatalog().register("course/*", "Everything", "Not a topic.")


def test_catalog_built_from_conflicting_topics_is_refused() -> None:
    with pytest.raises(TopicConflict):
        TopicCatalog([Topic("a/b/c", "One", "x"), Topic("a/b/c", "Two", "x")])


def test_matching_answers_what_a_pattern_would_receive() -> None:
    assert [topic.name for topic in TOPICS.matching("course/*")] == [
        "course/completion/create",
        "course/completion/update",
        "course/completion/report",
        "course/activity/create",
        "course/activity/update",
    ]
    assert list(TOPICS.matching(Pattern("*"))) == list(TOPICS)
    assert [topic.name for topic in TOPICS.matching("*/user/*")] == [
        "credits/user/create",
        "credits/user/update",
        "identity/user/create",
        "identity/user/update",
    ]
    assert TOPICS.matching("cource/*") == []
    with pytest.raises(InvalidPattern):
        TOPICS.matching("Course/*")


def test_repr_says_what_it_is() -> None:
    assert repr(TOPICS) == "<TopicCatalog of 16 topics, frozen>"
    assert repr(TopicCatalog()) == "<TopicCatalog of 0 topics>"
