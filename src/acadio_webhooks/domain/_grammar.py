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
    return _parse(text, _TOPIC, InvalidTopic, wildcard=False)


def parse_pattern(text: object) -> tuple[str, ...]:
    """Return the segments of a valid pattern, or raise :class:`InvalidPattern`."""
    return _parse(text, _PATTERN, InvalidPattern, wildcard=True)


def _parse(
    text: object,
    grammar: re.Pattern[str],
    error: type[InvalidTopic | InvalidPattern],
    *,
    wildcard: bool,
) -> tuple[str, ...]:
    if not isinstance(text, str):  # callers without a type checker
        what = "a pattern" if wildcard else "a topic"
        raise TypeError(f"{what} must be a str, not {type(text).__name__}")
    if len(text) <= MAX_LENGTH and grammar.fullmatch(text):
        return tuple(text.split("/"))
    problem, position = _first_problem(text, wildcard=wildcard)
    raise error(text, problem, position)


def _first_problem(text: str, *, wildcard: bool) -> tuple[str, int]:  # noqa: PLR0911 - one per rule
    """The first thing wrong with ``text``, read segment by segment, and its 0-based position.

    A segment's characters are checked before its ``*`` use, so ``course/*\\n`` (a pasted
    newline) is reported as the newline, not as a misplaced ``*``.
    Only called once the fast regular expression has refused ``text``, so something is wrong.
    """
    if not text:
        return ("is empty; use '*' to match every topic" if wildcard else "is empty"), 0
    if len(text) > MAX_LENGTH:
        return f"is {len(text)} characters long; the limit is {MAX_LENGTH}", MAX_LENGTH
    if text[0] == "/":
        return "starts with '/'", 0
    start = 0
    for segment in text.split("/"):
        if not segment:
            if start == len(text):
                return "ends with '/'", start - 1
            return "empty segment ('//')", start
        for offset, character in enumerate(segment):
            if character not in _SEGMENT_CHARACTERS and character != WILDCARD:
                return _character_problem(character), start + offset
        if WILDCARD in segment:
            star = start + segment.index(WILDCARD)
            if not wildcard:
                return "'*' is a pattern wildcard; a topic names one concrete event", star
            if segment != WILDCARD:
                return "'*' must be a whole segment", star
        start += len(segment) + 1
    raise AssertionError(f"{text!r} follows the grammar")  # pragma: no cover - see docstring


def _character_problem(character: str) -> str:
    if "A" <= character <= "Z":
        return (
            f"uppercase {character!r} is not allowed; use {character.lower()!r} "
            "(matching is case-sensitive)"
        )
    return f"character {character!r} is not allowed; {_ALLOWED}"
