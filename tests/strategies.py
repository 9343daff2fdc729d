"""Hypothesis strategies for topics and patterns, shared by every test module.

The grammar is restated here on purpose (``REFERENCE_*`` below) instead of imported, so the
tests check the implementation against an independent reading of DESIGN.md.
"""

from __future__ import annotations

import re

from hypothesis import strategies as st

__all__ = [
    "REFERENCE_PATTERN",
    "REFERENCE_TOPIC",
    "grammar_like_text",
    "invalid_patterns",
    "invalid_topics",
    "pattern_from_topic",
    "patterns",
    "segments",
    "topics",
]

SEGMENT_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789_-"
MAX_LENGTH = 255

REFERENCE_TOPIC = re.compile(r"[a-z0-9_-]+(/[a-z0-9_-]+)*")
REFERENCE_PATTERN = re.compile(r"([a-z0-9_-]+|\*)(/([a-z0-9_-]+|\*))*")

# A small shared vocabulary makes generated topics and patterns meet often enough that
# "matches" is as well exercised as "does not match".
_VOCABULARY = ("course", "completion", "create", "update", "a", "b", "x-1", "_")

segments = st.one_of(
    st.sampled_from(_VOCABULARY), st.text(SEGMENT_ALPHABET, min_size=1, max_size=6)
)
"""One topic segment: ``[a-z0-9_-]+``."""

topics = st.lists(segments, min_size=1, max_size=5).map("/".join)
"""Well-formed topics of one to five segments (the documented ones have three)."""

patterns = st.lists(st.one_of(segments, st.just("*")), min_size=1, max_size=5).map("/".join)
"""Well-formed patterns: segments and whole-segment ``*`` anywhere."""


@st.composite
def pattern_from_topic(draw: st.DrawFn, topic: str) -> str:
    """A pattern built from ``topic`` (a prefix, some segments starred, maybe a trailing
    ``*``), so it matches the topic or narrowly misses it."""
    parts = topic.split("/")
    kept = parts[: draw(st.integers(min_value=1, max_value=len(parts)))]
    pattern = ["*" if draw(st.booleans()) else part for part in kept]
    if draw(st.booleans()):
        pattern.append("*")
    return "/".join(pattern)


_BAD_CHARACTERS = st.sampled_from(["A", "Z", " ", ".", "é", "\n", "?", "#", "\\", "\x00", "+"])


@st.composite
def _broken(draw: st.DrawFn, valid: st.SearchStrategy[str], wildcard: bool) -> str:
    text = draw(valid)
    position = draw(st.integers(min_value=0, max_value=len(text)))
    boundaries = [i for i, char in enumerate(text) if char == "/"] or [len(text)]
    boundary = draw(st.sampled_from(boundaries))
    mutations = [
        "",
        "/" + text,
        text + "/",
        text[:boundary] + "//" + text[boundary:],
        text[:position] + draw(_BAD_CHARACTERS) + text[position:],
        ("a" * 64 + "/") * 4 + text,  # over 255 characters
    ]
    if wildcard:
        mutations += [text + "*", "*" + text, text[:position] + "**" + text[position:]]
    else:
        mutations += [text[:boundary] + "/*" + text[boundary:], "*"]
    return draw(st.sampled_from(mutations))


invalid_patterns = _broken(patterns, wildcard=True)
"""Strings that break the pattern grammar in one of the ways DESIGN.md lists."""

invalid_topics = _broken(topics, wildcard=False)
"""Strings that break the topic grammar (``*`` included: a topic is concrete)."""

grammar_like_text = st.one_of(
    st.text(alphabet="ab/*_-Z é", max_size=12),
    st.text(max_size=12),
    st.text(alphabet="a/", min_size=250, max_size=260),
)
"""Arbitrary text weighted towards the grammar's own characters, valid or not."""
