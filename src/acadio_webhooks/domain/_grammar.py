"""The shared grammar of topics and patterns: parse once, and say exactly what is wrong and where.

Both are ``/``-separated segments of ``[a-z0-9_-]+``, at most 255 characters; a pattern may also
use ``*`` as a whole segment. Valid text takes the fast path (one compiled regular expression);
only invalid text pays for the character-by-character scan that finds the first problem.
"""

from __future__ import annotations

import re

from acadio_webhooks.errors import InvalidPattern, InvalidTopic

__all__ = ["MAX_LENGTH", "WILDCARD", "parse_pattern", "parse_topic"]

MAX_LENGTH = 255
"""The longest topic or pattern, in characters."""
WILDCARD = "*"

_SEGMENT_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-")
_TOPIC = re.compile(r"[a-z0-9_-]+(?:/[a-z0-9_-]+)*")
_PATTERN = re.compile(r"(?:[a-z0-9_-]+|\*)(?:/(?:[a-z0-9_-]+|\*))*")
_ALLOWED = "segments use only a-z, 0-9, '_' and '-'"


def parse_topic(text: object) -> tuple[str, ...]:
    """Return the segments of a valid topic, or raise :class:`InvalidTopic`."""
    if not isinstance(text, str):  # untyped callers exist
        raise TypeError(f"a topic must be a str, not {type(text).__name__}")
    if len(text) <= MAX_LENGTH and _TOPIC.fullmatch(text):
        return tuple(text.split("/"))
    problem, position = _first_problem(text, wildcard=False)
    raise InvalidTopic(text, problem, position)


def parse_pattern(text: object) -> tuple[str, ...]:
    """Return the segments of a valid pattern, or raise :class:`InvalidPattern`."""
    if not isinstance(text, str):  # untyped callers exist
        raise TypeError(f"a pattern must be a str, not {type(text).__name__}")
    if len(text) <= MAX_LENGTH and _PATTERN.fullmatch(text):
        return tuple(text.split("/"))
    problem, position = _first_problem(text, wildcard=True)
    raise InvalidPattern(text, problem, position)


def _first_problem(text: str, *, wildcard: bool) -> tuple[str, int]:  # noqa: PLR0911 - a return per rule
    """The first thing wrong with ``text``, read left to right, and its 0-based position.

    Only called once the fast regular expression has refused ``text``, so something is wrong.
    """
    if not text:
        hint = "; use '*' to match every topic" if wildcard else ""
        return f"is empty{hint}", 0
    if len(text) > MAX_LENGTH:
        return f"is {len(text)} characters long; the limit is {MAX_LENGTH}", MAX_LENGTH
    if text[0] == "/":
        return "starts with '/'", 0
    segment_start = 0
    for position, character in enumerate(text):
        if character in _SEGMENT_CHARACTERS:
            continue
        if character == "/":
            if position == segment_start:
                return "empty segment ('//')", position
            segment_start = position + 1
        elif character == WILDCARD:
            if not wildcard:
                return "'*' is a pattern wildcard; a topic names one concrete event", position
            next_slash = text.find("/", position)
            segment_end = len(text) if next_slash == -1 else next_slash
            if position != segment_start or segment_end != position + 1:
                return "'*' must be a whole segment", position
        elif "A" <= character <= "Z":
            return (
                f"uppercase {character!r} is not allowed; use {character.lower()!r} "
                "(matching is case-sensitive)",
                position,
            )
        else:
            return f"character {character!r} is not allowed; {_ALLOWED}", position
    # The regex refused the text and every other way to break the grammar returned above:
    # what is left is an empty last segment.
    return "ends with '/'", len(text) - 1
