"""Subscription patterns: the plain definition (:class:`Pattern`) and a fast index over many.

The language, in full:

* a pattern is ``/``-separated segments of ``[a-z0-9_-]+`` or ``*``, at most 255 characters;
  matching is case-sensitive and ``*`` is only ever a whole segment;
* a **trailing** ``*`` matches one or more remaining segments (``course/*`` matches
  ``course/completion/create``, not ``course``), so a lone ``*`` matches every topic;
* a ``*`` anywhere else matches exactly one segment (``*/*/create``, ``course/*/update``).

:meth:`Pattern.matches` is the definition. :class:`PatternIndex` answers "which of these many
patterns match this topic?" through a segment trie, and property tests hold it equal to
:meth:`Pattern.matches` on every input.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from acadio_webhooks.domain._grammar import WILDCARD, parse_pattern, parse_topic

__all__ = ["Pattern", "PatternIndex"]

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True)
class Pattern:
    """A subscription pattern, parsed and checked once; equal and hashed by its text.

    >>> Pattern("course/*").matches("course/completion/create")
    True
    >>> Pattern("course/*").matches("course")
    False
    >>> Pattern("*/*/create").matches("identity/user/create")
    True
    >>> Pattern("course/*/update").matches("course/activity/create")
    False
    >>> Pattern("*").matches("surveys/survey/complete")
    True
    >>> Pattern("cour*")
    Traceback (most recent call last):
      ...
    acadio_webhooks.errors.InvalidPattern: invalid pattern 'cour*' at position 4: '*' must be a whole segment

    Raises :class:`~acadio_webhooks.errors.InvalidPattern` (a ``ValueError``) naming the
    problem and its ``.position``, or ``TypeError`` if ``text`` is not a string.
    """  # noqa: E501 - a doctest's expected traceback line cannot be wrapped

    text: str
    segments: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # The dataclass is frozen; this is the one place the parsed form is filled in.
        object.__setattr__(self, "segments", parse_pattern(self.text))

    def __str__(self) -> str:
        return self.text

    @property
    def is_literal(self) -> bool:
        """True when the pattern has no ``*``, so it matches exactly one topic: itself."""
        return WILDCARD not in self.segments

    def matches(self, topic: str) -> bool:
        """Whether this pattern receives events of ``topic``.

        Raises :class:`~acadio_webhooks.errors.InvalidTopic` for a malformed topic rather than
        answering "no match": a typo on the sending side must not pass silently.
        """
        return self._matches_segments(parse_topic(topic))

    def _matches_segments(self, topic: tuple[str, ...]) -> bool:
        pattern = self.segments
        if pattern[-1] == WILDCARD:
            fixed = len(pattern) - 1
            if len(topic) <= fixed:  # the trailing '*' needs at least one segment
                return False
        else:
            fixed = len(pattern)
            if len(topic) != fixed:
                return False
        for position in range(fixed):
            expected = pattern[position]
            if expected != WILDCARD and expected != topic[position]:
                return False
        return True


class _Node(Generic[K]):
    """One trie level: literal children, the single-segment ``*`` child, and the keys whose
    pattern ends here (``exact``) or ends here with a trailing ``*`` (``open_ended``)."""

    __slots__ = ("children", "exact", "open_ended", "star")

    def __init__(self) -> None:
        self.children: dict[str, _Node[K]] = {}
        self.star: _Node[K] | None = None
        self.exact: set[K] | None = None
        self.open_ended: set[K] | None = None

    def is_empty(self) -> bool:
        return not (self.children or self.star or self.exact or self.open_ended)


class PatternIndex(Generic[K]):
    """Many patterns, each under a key (say a subscription id); :meth:`match` finds the keys
    whose pattern matches a topic without scanning them all.

    Patterns are stored in a segment trie, so a match walks the topic's few segments (plus the
    ``*`` branches) whatever the number of patterns. Results are kept in an LRU cache of
    ``cache_size`` topics (0 disables it), cleared by every :meth:`add` and :meth:`remove`.

    A key has one pattern: adding it again with another pattern replaces the old one.

    Not safe to mutate while another thread matches; hosts that share an index across threads
    build a new one and swap the reference, which is what a routing snapshot does anyway.

    >>> index = PatternIndex[str]()
    >>> index.add("course/*", "sub_course")
    >>> index.add("*/*/create", "sub_creates")
    >>> sorted(index.match("course/completion/create"))
    ['sub_course', 'sub_creates']
    >>> sorted(index.match("identity/user/update"))
    []
    """

    def __init__(self, *, cache_size: int = 4096) -> None:
        if cache_size < 0:
            raise ValueError(f"cache_size must be 0 or more, not {cache_size}")
        self._root: _Node[K] = _Node()
        self._patterns: dict[K, Pattern] = {}
        self._lookup: Callable[[str], frozenset[K]] = self._match_uncached
        self._clear_cache: Callable[[], None] = _do_nothing
        if cache_size:
            cached = functools.lru_cache(maxsize=cache_size)(self._match_uncached)
            self._lookup, self._clear_cache = cached, cached.cache_clear

    def __len__(self) -> int:
        """The number of keys (subscriptions) indexed."""
        return len(self._patterns)

    def __contains__(self, key: object) -> bool:
        return key in self._patterns

    def add(self, pattern: Pattern | str, key: K) -> None:
        """Index ``key`` under ``pattern``, replacing the pattern ``key`` had before.

        A string is parsed first, so an invalid one raises
        :class:`~acadio_webhooks.errors.InvalidPattern` and leaves the index unchanged.
        """
        parsed = pattern if isinstance(pattern, Pattern) else Pattern(pattern)
        previous = self._patterns.get(key)
        if previous == parsed:
            return
        if previous is not None:
            self._unlink(previous, key)
        self._patterns[key] = parsed
        node = self._root
        *path, last = parsed.segments
        open_ended = last == WILDCARD
        for segment in path if open_ended else parsed.segments:
            node = self._child(node, segment)
        if open_ended:
            if node.open_ended is None:
                node.open_ended = set()
            node.open_ended.add(key)
        else:
            if node.exact is None:
                node.exact = set()
            node.exact.add(key)
        self._clear_cache()

    def remove(self, key: K) -> bool:
        """Forget ``key``; True if it was indexed, False if not (so removal is idempotent)."""
        pattern = self._patterns.pop(key, None)
        if pattern is None:
            return False
        self._unlink(pattern, key)
        self._clear_cache()
        return True

    def match(self, topic: str) -> frozenset[K]:
        """The keys whose pattern matches ``topic``.

        Raises :class:`~acadio_webhooks.errors.InvalidTopic` for a malformed topic.
        """
        return self._lookup(topic)

    @staticmethod
    def _child(node: _Node[K], segment: str) -> _Node[K]:
        if segment == WILDCARD:
            if node.star is None:
                node.star = _Node()
            return node.star
        child = node.children.get(segment)
        if child is None:
            child = node.children[segment] = _Node()
        return child

    def _unlink(self, pattern: Pattern, key: K) -> None:
        *path, last = pattern.segments
        open_ended = last == WILDCARD
        trail: list[tuple[_Node[K], str]] = []
        node = self._root
        for segment in path if open_ended else pattern.segments:
            trail.append((node, segment))
            child = node.star if segment == WILDCARD else node.children.get(segment)
            assert child is not None, "an indexed key's path exists"
            node = child
        keys = node.open_ended if open_ended else node.exact
        assert keys is not None, "an indexed key is in its node's key set"
        keys.discard(key)
        # Prune nodes left empty so a long-lived index does not grow with churn.
        for parent, segment in reversed(trail):
            if not node.is_empty():
                break
            if segment == WILDCARD:
                parent.star = None
            else:
                del parent.children[segment]
            node = parent

    def _match_uncached(self, topic: str) -> frozenset[K]:
        segments = parse_topic(topic)
        found: list[set[K]] = []
        nodes = [self._root]
        for segment in segments:
            deeper: list[_Node[K]] = []
            for node in nodes:
                if node.open_ended:  # at least this segment remains, as a trailing '*' needs
                    found.append(node.open_ended)
                child = node.children.get(segment)
                if child is not None:
                    deeper.append(child)
                if node.star is not None:
                    deeper.append(node.star)
            if not deeper:
                break
            nodes = deeper
        else:
            found.extend(node.exact for node in nodes if node.exact)
        if not found:
            return frozenset()
        return frozenset().union(*found)


def _do_nothing() -> None:
    """Clearing the cache of an index built with ``cache_size=0``."""
