"""The pattern language: Pattern is the definition, PatternIndex must agree with it everywhere."""

from __future__ import annotations

import doctest
import pickle
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from acadio_webhooks.domain import patterns as patterns_module
from acadio_webhooks.domain.patterns import Pattern, PatternIndex
from acadio_webhooks.domain.topics import TOPICS
from acadio_webhooks.errors import AcadioWebhooksError, InvalidPattern, InvalidTopic
from tests.strategies import (
    REFERENCE_PATTERN,
    grammar_like_text,
    invalid_patterns,
    invalid_topics,
    pattern_from_topic,
    patterns,
    segments,
    topics,
)

DOCUMENTED = [topic.name for topic in TOPICS]


def reference_matches(pattern: str, topic: str) -> bool:
    """DESIGN.md's definition, restated as a regular expression over the topic."""
    *inner, last = pattern.split("/")
    parts = ["[^/]+" if part == "*" else re.escape(part) for part in inner]
    parts.append("[^/]+(/[^/]+)*" if last == "*" else re.escape(last))
    return re.fullmatch("/".join(parts), topic) is not None


# -- the definition, by example ---------------------------------------------------------------

MATCH_TABLE = [
    (
        "course/completion/create",
        ["course/completion/create"],
        ["course/completion/update", "course/completion", "course/completion/create/x"],
    ),
    (
        "course/*",
        ["course/completion/create", "course/activity/update", "course/x"],
        ["course", "courses/completion/create", "identity/user/create"],
    ),
    ("*", [*DOCUMENTED, "a", "a/b/c/d/e"], []),
    (
        "*/*/create",
        ["course/completion/create", "identity/user/create", "assessment/session/create"],
        ["course/completion/update", "a/create", "a/b/c/create", "create"],
    ),
    (
        "course/*/update",
        ["course/activity/update", "course/completion/update"],
        ["course/activity/create", "course/update", "course/a/b/update", "credits/user/update"],
    ),
    ("*/*", ["a/b", "course/completion/create"], ["a"]),
    ("course/*/*", ["course/a/b", "course/a/b/c"], ["course/a", "course"]),
]


@pytest.mark.parametrize(("pattern", "matching", "not_matching"), MATCH_TABLE)
def test_match_table(pattern: str, matching: list[str], not_matching: list[str]) -> None:
    parsed = Pattern(pattern)
    assert [topic for topic in matching if not parsed.matches(topic)] == []
    assert [topic for topic in not_matching if parsed.matches(topic)] == []


INVALID_TABLE = [
    ("cour*", 4, "'*' must be a whole segment"),
    ("*course", 0, "'*' must be a whole segment"),
    ("course/**", 7, "'*' must be a whole segment"),
    ("course/*x/create", 7, "'*' must be a whole segment"),
    ("a/*b/c", 2, "'*' must be a whole segment"),
    ("*Course", 1, "uppercase 'C'"),
    ("course//x", 7, "empty segment"),
    ("Course/*", 0, "uppercase 'C' is not allowed; use 'c'"),
    ("course/Completion/create", 7, "uppercase 'C' is not allowed"),
    ("", 0, "is empty; use '*' to match every topic"),
    ("/course/*", 0, "starts with '/'"),
    ("/", 0, "starts with '/'"),
    ("course/", 6, "ends with '/'"),
    ("a" * 256, 255, "is 256 characters long; the limit is 255"),
    ("course completion", 6, "character ' ' is not allowed; segments use only a-z, 0-9"),
    ("course.completion", 6, "character '.' is not allowed"),
    ("cours\u00e9/*", 5, "character 'é' is not allowed"),
    ("course/*\n", 8, "character '\\n' is not allowed"),
]


@pytest.mark.parametrize(("text", "position", "problem"), INVALID_TABLE)
def test_invalid_pattern_table(text: str, position: int, problem: str) -> None:
    with pytest.raises(InvalidPattern) as caught:
        Pattern(text)
    error = caught.value
    assert error.position == position
    assert problem in error.problem
    assert f"at position {position}: {error.problem}" in str(error)
    assert isinstance(error, ValueError)
    assert isinstance(error, AcadioWebhooksError)


def test_a_255_character_pattern_is_accepted() -> None:
    text = ("a" * 63 + "/") * 3 + "a" * 61 + "/*"  # 255 characters exactly
    assert len(text) == 255
    assert Pattern(text).matches(text[:-1] + "b")


def test_pattern_must_be_a_string() -> None:
    with pytest.raises(TypeError, match="must be a str, not NoneType"):
        Pattern(None)  # type: ignore[arg-type]


def test_pattern_is_an_immutable_value_equal_by_text() -> None:
    pattern = Pattern("course/*")
    assert pattern == Pattern("course/*")
    assert pattern != Pattern("course/*/*")
    assert pattern != "course/*"
    assert len({pattern, Pattern("course/*")}) == 1
    assert pattern.text == str(pattern) == "course/*"
    assert pattern.segments == ("course", "*")
    assert repr(pattern) == "Pattern('course/*')"
    with pytest.raises(AttributeError):
        pattern.text = "identity/*"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        pattern.extra = 1  # type: ignore[attr-defined]
    # Hosts hand patterns to worker processes (Celery, multiprocessing).
    assert pickle.loads(pickle.dumps(pattern)) == pattern
    assert pickle.loads(pickle.dumps(pattern)).matches("course/activity/create")


def test_is_literal() -> None:
    assert Pattern("course/completion/create").is_literal
    assert not Pattern("course/*").is_literal
    assert not Pattern("*/completion/create").is_literal


def test_matching_a_malformed_topic_raises_instead_of_answering_no() -> None:
    with pytest.raises(InvalidTopic, match="at position 0: uppercase 'C'"):
        Pattern("*").matches("Course/completion/create")
    with pytest.raises(InvalidTopic, match="pattern wildcard"):
        Pattern("course/*").matches("course/*")


def test_docstring_examples_run() -> None:
    results = doctest.testmod(patterns_module)
    assert results.attempted >= 8
    assert results.failed == 0


# -- the definition, by property --------------------------------------------------------------


@given(pattern=patterns, topic=topics)
def test_matches_agrees_with_the_reference_definition(pattern: str, topic: str) -> None:
    assert Pattern(pattern).matches(topic) == reference_matches(pattern, topic)


@given(topic=topics, data=st.data())
def test_patterns_built_from_a_topic_agree_with_the_reference(
    topic: str, data: st.DataObject
) -> None:
    pattern = data.draw(pattern_from_topic(topic))
    assert Pattern(pattern).matches(topic) == reference_matches(pattern, topic)


@given(topic=topics)
def test_lone_star_matches_every_topic(topic: str) -> None:
    assert Pattern("*").matches(topic)


@given(pattern=topics, topic=topics)
def test_a_literal_pattern_matches_only_itself(pattern: str, topic: str) -> None:
    assert Pattern(pattern).matches(pattern)
    assert Pattern(pattern).matches(topic) == (pattern == topic)


@given(prefix=st.lists(segments, min_size=1, max_size=3), topic=topics, data=st.data())
def test_trailing_star_means_this_prefix_plus_at_least_one_segment(
    prefix: list[str], topic: str, data: st.DataObject
) -> None:
    if data.draw(st.booleans()):  # make the prefix relation likely, not just possible
        topic = "/".join(prefix + topic.split("/")[: data.draw(st.integers(0, 2))])
    parts = topic.split("/")
    expected = parts[: len(prefix)] == prefix and len(parts) > len(prefix)
    assert Pattern("/".join([*prefix, "*"])).matches(topic) == expected


@given(pattern=patterns)
def test_valid_patterns_parse_to_their_segments(pattern: str) -> None:
    parsed = Pattern(pattern)
    assert parsed.text == pattern
    assert parsed.segments == tuple(pattern.split("/"))


@given(text=invalid_patterns)
def test_invalid_patterns_always_raise(text: str) -> None:
    index = PatternIndex[int]()
    with pytest.raises(InvalidPattern) as caught:
        Pattern(text)
    assert 0 <= caught.value.position <= max(len(text) - 1, 0)  # type: ignore[operator]
    with pytest.raises(InvalidPattern):
        index.add(text, 1)
    assert len(index) == 0
    assert 1 not in index


@given(text=grammar_like_text)
def test_accepts_exactly_the_grammar_and_points_at_the_problem(text: str) -> None:
    if REFERENCE_PATTERN.fullmatch(text) and len(text) <= 255:
        assert Pattern(text).text == text
        return
    with pytest.raises(InvalidPattern) as caught:
        Pattern(text)
    problem, position = caught.value.problem, caught.value.position
    assert position is not None
    if len(text) > 255:
        assert "characters long" in problem
        return
    # Everything before the reported position is made of grammar characters: the error is
    # the first problem reading left to right.
    assert set(text[:position]) <= set("abcdefghijklmnopqrstuvwxyz0123456789_-/*")
    if not text:
        assert "is empty" in problem
    elif "starts with" in problem:
        assert position == 0
        assert text[0] == "/"
    elif "ends with" in problem:
        assert position == len(text) - 1
        assert text.endswith("/")
    elif "empty segment" in problem:
        assert text[position - 1 : position + 1] == "//"
    elif "whole segment" in problem:
        assert text[position] == "*"
        end = text.find("/", position)
        segment = text[text.rfind("/", 0, position) + 1 : end if end >= 0 else len(text)]
        assert segment != "*"
    elif "uppercase" in problem:
        assert "A" <= text[position] <= "Z"
    else:
        assert f"character {text[position]!r} is not allowed" in problem


@given(text=invalid_topics)
def test_matching_against_a_malformed_topic_always_raises(text: str) -> None:
    index = PatternIndex[int]()
    index.add("*", 1)
    with pytest.raises(InvalidTopic):
        Pattern("*").matches(text)
    for _ in range(2):  # a failure is never cached as "no match"
        with pytest.raises(InvalidTopic):
            index.match(text)


# -- the index ---------------------------------------------------------------------------------


def test_index_finds_every_matching_key() -> None:
    index = PatternIndex[str]()
    index.add("course/completion/create", "literal")
    index.add("course/*", "area")
    index.add(Pattern("*/*/create"), "creates")
    index.add("*", "everything")
    index.add("identity/*", "identity")
    assert index.match("course/completion/create") == {"literal", "area", "creates", "everything"}
    assert index.match("identity/user/update") == {"identity", "everything"}
    assert index.match("course") == {"everything"}
    assert len(index) == 5
    assert "area" in index
    assert "missing" not in index


def test_readding_a_key_replaces_its_pattern() -> None:
    index = PatternIndex[str]()
    index.add("course/*", "sub")
    assert index.match("course/activity/create") == {"sub"}
    index.add("identity/*", "sub")
    assert index.match("course/activity/create") == frozenset()
    assert index.match("identity/user/create") == {"sub"}
    index.add("identity/*", "sub")  # the same pattern again changes nothing
    assert len(index) == 1


def test_remove_is_idempotent_and_reports_whether_the_key_was_there() -> None:
    index = PatternIndex[int]()
    index.add("course/*", 1)
    index.add("course/completion/create", 2)
    assert index.remove(1) is True
    assert index.remove(1) is False
    assert index.remove(99) is False
    assert index.match("course/completion/create") == {2}
    assert len(index) == 1


@pytest.mark.parametrize("cache_size", [0, 1, 4096])
def test_results_follow_every_change_whatever_the_cache(cache_size: int) -> None:
    index = PatternIndex[int](cache_size=cache_size)
    assert index.match("course/activity/create") == frozenset()
    index.add("course/*", 1)
    assert index.match("course/activity/create") == {1}
    assert index.match("identity/user/create") == frozenset()
    index.add("*/*/create", 2)
    assert index.match("course/activity/create") == {1, 2}
    assert index.match("identity/user/create") == {2}
    index.remove(1)
    assert index.match("course/activity/create") == {2}
    index.add("course/activity/create", 2)
    assert index.match("identity/user/create") == frozenset()


def test_removing_everything_leaves_nothing_behind() -> None:
    # A long-lived index with subscription churn must not keep dead trie branches.
    index = PatternIndex[int]()
    texts = ["course/*", "*/*/create", "course/*/update", "a/b/c", "*", "a/*/*/d"]
    for key, text in enumerate(texts):
        index.add(text, key)
    for key in range(len(texts)):
        index.remove(key)
    assert index._root.is_empty()
    assert index._literal == {}


def test_negative_cache_size_is_refused() -> None:
    with pytest.raises(ValueError, match="cache_size must be 0 or more"):
        PatternIndex[int](cache_size=-1)


@given(
    entries=st.lists(st.tuples(patterns, st.integers(0, 30)), max_size=40),
    removed=st.sets(st.integers(0, 30), max_size=10),
    probes=st.lists(topics, min_size=1, max_size=10),
)
def test_index_agrees_with_a_scan_of_patterns(
    entries: list[tuple[str, int]], removed: set[int], probes: list[str]
) -> None:
    index = PatternIndex[int]()
    model: dict[int, Pattern] = {}
    for text, key in entries:
        index.add(text, key)
        model[key] = Pattern(text)
    for key in removed:
        index.remove(key)
        model.pop(key, None)
    for topic in [*probes, *(p.text.replace("*", "z") for p in model.values())]:
        expected = {key for key, pattern in model.items() if pattern.matches(topic)}
        assert index.match(topic) == expected


class IndexAgreesWithDefinition(RuleBasedStateMachine):
    """Adds, replacements, removals and matches in any order, checked against a plain dict."""

    cache_size = 2  # small, so eviction and invalidation both happen

    def __init__(self) -> None:
        super().__init__()
        self.index = PatternIndex[int](cache_size=self.cache_size)
        self.model: dict[int, Pattern] = {}

    seen_topics = Bundle("seen_topics")
    keys = st.integers(min_value=0, max_value=7)

    @rule(target=seen_topics, topic=st.one_of(topics, st.sampled_from(DOCUMENTED)))
    def see_topic(self, topic: str) -> str:
        return topic

    @rule(key=keys, pattern=patterns)
    def add(self, key: int, pattern: str) -> None:
        self.index.add(pattern, key)
        self.model[key] = Pattern(pattern)

    @rule(key=keys, topic=seen_topics, data=st.data())
    def add_near_a_topic(self, key: int, topic: str, data: st.DataObject) -> None:
        pattern = Pattern(data.draw(pattern_from_topic(topic)))
        self.index.add(pattern, key)
        self.model[key] = pattern

    @rule(key=keys)
    def remove(self, key: int) -> None:
        assert self.index.remove(key) == (key in self.model)
        self.model.pop(key, None)

    @rule(topic=seen_topics)
    def match(self, topic: str) -> None:
        expected = {key for key, pattern in self.model.items() if pattern.matches(topic)}
        assert self.index.match(topic) == expected

    @invariant()
    def same_keys(self) -> None:
        assert len(self.index) == len(self.model)
        assert all(key in self.index for key in self.model)


class UncachedIndexAgreesWithDefinition(IndexAgreesWithDefinition):
    cache_size = 0


TestIndexAgreesWithDefinition = IndexAgreesWithDefinition.TestCase
TestUncachedIndexAgreesWithDefinition = UncachedIndexAgreesWithDefinition.TestCase
