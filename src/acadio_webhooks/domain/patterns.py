"""Subscription patterns: the plain definition (:class:`Pattern`) and a fast index over many.

The language, in full:

* a pattern is ``/``-separated segments of ``[a-z0-9_-]+`` or ``*``, at most 255 characters;
  matching is case-sensitive and ``*`` is only ever a whole segment;
* a **trailing** ``*`` matches one or more remaining segments (``course/*`` matches
  ``course/completion/create``, not ``course``), so a lone ``*`` matches every topic;
* a ``*`` anywhere else matches exactly one segment (``*/*/create``, ``course/*/update``).

:meth:`Pattern.matches` is the definition. :class:`PatternIndex` answers "which of these many
patterns match this topic?" from a dictionary of literal patterns and a segment trie of
wildcard ones; property tests hold it equal to :meth:`Pattern.matches` on every input.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Sequence
from typing import Generic, TypeVar

from acadio_webhooks.domain._grammar import WILDCARD, parse_pattern, parse_topic

__all__ = ["Pattern", "PatternIndex"]

K = TypeVar("K", bound=Hashable)


class Pattern:
    """A subscription pattern, parsed and checked once; immutable, equal and hashed by its text.

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

    # Read-only properties over slots rather than a frozen dataclass: building 100k patterns
    # is on the start-up path of a dispatcher, and frozen-dataclass __init__ costs a third more.
    __slots__ = ("_segments", "_text")

    def __init__(self, text: str) -> None:
        self._segments = parse_pattern(text)
        self._text = text

    @property
    def text(self) -> str:
        """The pattern as written, e.g. ``course/*``."""
        return self._text

    @property
    def segments(self) -> tuple[str, ...]:
        """The ``/``-separated parts, ``*`` included: ``("course", "*")``."""
        return self._segments

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Pattern):
            return self._text == other._text
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._text)

    def __repr__(self) -> str:
        return f"Pattern({self._text!r})"

    def __str__(self) -> str:
        return self.text

    @property
    def is_literal(self) -> bool:
        """True when the pattern has no ``*``, so it matches exactly one topic: itself."""
        return WILDCARD not in self._segments

    def matches(self, topic: str) -> bool:
        """Whether this pattern receives events of ``topic``.

        Raises :class:`~acadio_webhooks.errors.InvalidTopic` for a malformed topic rather than
        answering "no match": a typo on the sending side must not pass silently.
        """
        return self._matches_segments(parse_topic(topic))

    def _matches_segments(self, topic: tuple[str, ...]) -> bool:
        pattern = self._segments
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

    Literal patterns (no ``*``, most subscriptions) sit in a dictionary keyed by topic;
    wildcard patterns in a segment trie, so a match costs one dictionary lookup plus a walk of
    the topic's few segments and ``*`` branches, whatever the number of patterns. Results are
    kept in an LRU cache of ``cache_size`` topics (0 disables it), cleared by every
    :meth:`add` and :meth:`remove`.

    A key has one pattern: adding it again with another pattern replaces the old one.

    Not safe to mutate while another thread matches; hosts that share an index across threads
    build a new one and swap the reference, which is what a routing snapshot does anyway.

    >>> index = PatternIndex[str]()
    >>> index.add("course/*", "sub_course")
    >>> index.add("*/*/create", "sub_creates")
    >>> index.add("identity/user/create", "sub_users")
    >>> sorted(index.match("course/completion/create"))
    ['sub_course', 'sub_creates']
    >>> sorted(index.match("identity/user/update"))
    []
    """

    def __init__(self, *, cache_size: int = 4096) -> None:
        if cache_size < 0:
            raise ValueError(f"cache_size must be 0 or more, not {cache_size}")
        self._literal: dict[str, set[K]] = {}
        self._root: _Node[K] = _Node()
        # Segments rather than Pattern objects: tuples of strings leave the garbage
        # collector's tracking, which keeps building and holding 100k subscriptions cheap.
        self._segments: dict[K, tuple[str, ...]] = {}
        self._lookup: Callable[[str], frozenset[K]] = self._match_uncached
        self._clear_cache: Callable[[], None] = _do_nothing
        if cache_size:
            cached = functools.lru_cache(maxsize=cache_size)(self._match_uncached)
            self._lookup, self._clear_cache = cached, cached.cache_clear
        # Set by every computed match, so mutations skip clearing a cache that holds nothing:
        # clearing costs as much as the rest of an add() while an index is being built.
        self._cache_filled = False

    def __len__(self) -> int:
        """The number of keys (subscriptions) indexed."""
        return len(self._segments)

    def __contains__(self, key: object) -> bool:
        return key in self._segments

    def add(self, pattern: Pattern | str, key: K) -> None:
        """Index ``key`` under ``pattern``, replacing the pattern ``key`` had before.

        A string is parsed first, so an invalid one raises
        :class:`~acadio_webhooks.errors.InvalidPattern` and leaves the index unchanged.
        """
        if isinstance(pattern, Pattern):
            text, segments = pattern.text, pattern.segments
        else:
            text, segments = pattern, parse_pattern(pattern)
        previous = self._segments.get(key)
        if previous is not None:
            if previous == segments:
                return
            self._unlink(previous, key)
        self._segments[key] = segments
        if WILDCARD in segments:
            self._link_wildcard(segments, key)
        else:
            keys = self._literal.get(text)
            if keys is None:
                keys = self._literal[text] = set()
            keys.add(key)
        self._forget_matches()

    def remove(self, key: K) -> bool:
        """Forget ``key``; True if it was indexed, False if not (so removal is idempotent)."""
        segments = self._segments.pop(key, None)
        if segments is None:
            return False
        self._unlink(segments, key)
        self._forget_matches()
        return True

    def match(self, topic: str) -> frozenset[K]:
        """The keys whose pattern matches ``topic``.

        Raises :class:`~acadio_webhooks.errors.InvalidTopic` for a malformed topic.
        """
        return self._lookup(topic)

    def _forget_matches(self) -> None:
        if self._cache_filled:
            self._clear_cache()
            self._cache_filled = False

    def _link_wildcard(self, segments: tuple[str, ...], key: K) -> None:
        open_ended = segments[-1] == WILDCARD
        node = self._root
        for segment in segments[:-1] if open_ended else segments:
            if segment == WILDCARD:
                child = node.star
                if child is None:
                    child = node.star = _Node()
            else:
                child = node.children.get(segment)
                if child is None:
                    child = node.children[segment] = _Node()
            node = child
        if open_ended:
            keys = node.open_ended
            if keys is None:
                keys = node.open_ended = set()
        else:
            keys = node.exact
            if keys is None:
                keys = node.exact = set()
        keys.add(key)

    def _unlink(self, segments: tuple[str, ...], key: K) -> None:
        if WILDCARD not in segments:
            text = "/".join(segments)
            literal = self._literal[text]
            literal.discard(key)
            if not literal:
                del self._literal[text]
            return
        open_ended = segments[-1] == WILDCARD
        trail: list[tuple[_Node[K], str]] = []
        node = self._root
        for segment in segments[:-1] if open_ended else segments:
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
        self._cache_filled = True
        literal = self._literal.get(topic)
        found: list[set[K]] = [literal] if literal is not None else []
        nodes: Sequence[_Node[K]] = (self._root,)
        for segment in segments:
            deeper: list[_Node[K]] = []
            for node in nodes:
                if node.open_ended:  # at least this segment remains, as a trailing '*' needs
                    found.append(node.open_ended)
                child = node.children.get(segment)
                if child is not None:
                    deeper.append(child)
                star = node.star
                if star is not None:
                    deeper.append(star)
            if not deeper:
                break
            nodes = deeper
        else:
            found.extend([node.exact for node in nodes if node.exact])
        # Each key sits in exactly one set, so this is a disjoint union: building it is the
        # main cost of a match that finds many keys.
        return frozenset().union(*found)


def _do_nothing() -> None:
    """Clearing the cache of an index built with ``cache_size=0``."""
