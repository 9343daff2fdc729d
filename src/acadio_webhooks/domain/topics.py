"""Topics: the concrete event names (``area/entity/action``) and the catalog that lists them.

:data:`TOPICS` holds the 16 topics of the public webhooks documentation, with their titles
and descriptions word for word. It is read-only; a host that adds topics ("new webhook topic
subscriptions will be added in the future") registers them on ``TOPICS.copy()``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

import pydantic

from acadio_webhooks.domain._grammar import parse_topic
from acadio_webhooks.domain.patterns import Pattern
from acadio_webhooks.domain.payloads import PayloadSchema, payload_schema
from acadio_webhooks.errors import FrozenCatalog, TopicConflict, UnknownTopic

__all__ = ["validate_topic", "Topic", "TopicCatalog", "TOPICS"]


def validate_topic(text: str) -> str:
    """Return ``text`` if it is a well-formed topic, else raise ``InvalidTopic``.

    A topic is ``/``-separated segments of ``[a-z0-9_-]+`` (the documented ones have three),
    at most 255 characters, without ``*``. The error names the problem and its ``.position``:

    >>> validate_topic("course/completion/create")
    'course/completion/create'
    >>> validate_topic("Course/completion/create")
    Traceback (most recent call last):
      ...
    acadio_webhooks.errors.InvalidTopic: invalid topic 'Course/completion/create' at position 0: uppercase 'C' is not allowed; use 'c' (matching is case-sensitive)
    """  # noqa: E501 - a doctest's expected traceback line cannot be wrapped
    parse_topic(text)
    return text


@dataclass(frozen=True, slots=True)
class Topic:
    """One kind of event subscribers can receive.

    ``once_per_day`` marks a topic that fires at most once a day per subject (the documented
    ``course/activity/create``); ``note`` keeps any remark the documentation adds; ``payload``,
    when set, is the schema every event's ``data`` must fit (see :meth:`TopicCatalog.register`).
    """

    name: str
    title: str
    description: str
    once_per_day: bool = False
    note: str | None = None
    payload: PayloadSchema | None = None

    def __post_init__(self) -> None:
        validate_topic(self.name)


class TopicCatalog:
    """The topics a host emits, in registration order; looked up by name.

    ``frozen=True`` makes :meth:`register` raise :class:`~acadio_webhooks.errors.FrozenCatalog`;
    :meth:`copy` always returns a catalog that accepts registrations.
    """

    def __init__(self, topics: Iterable[Topic] = (), *, frozen: bool = False) -> None:
        self._topics: dict[str, Topic] = {}
        for topic in topics:
            self._add(topic)
        self._frozen = frozen

    @property
    def frozen(self) -> bool:
        """Whether :meth:`register` is refused."""
        return self._frozen

    def __iter__(self) -> Iterator[Topic]:
        return iter(self._topics.values())

    def __len__(self) -> int:
        return len(self._topics)

    def __contains__(self, item: object) -> bool:
        """``name in catalog`` by name; ``topic in catalog`` for an equal :class:`Topic`."""
        if isinstance(item, Topic):
            return self._topics.get(item.name) == item
        return isinstance(item, str) and item in self._topics

    def __getitem__(self, name: str) -> Topic:
        """The topic called ``name``; ``InvalidTopic`` if malformed, ``UnknownTopic`` if absent."""
        topic = self._topics.get(name)
        if topic is None:
            validate_topic(name)
            raise UnknownTopic(name)
        return topic

    def __repr__(self) -> str:
        state = ", frozen" if self._frozen else ""
        return f"<TopicCatalog of {len(self._topics)} topics{state}>"

    def get(self, name: str) -> Topic | None:
        """The topic called ``name``, or None (like ``dict.get``, malformed names included)."""
        return self._topics.get(name)

    def register(
        self,
        name: str,
        title: str,
        description: str,
        *,
        once_per_day: bool = False,
        note: str | None = None,
        model: type[pydantic.BaseModel] | None = None,
        schema: Mapping[str, Any] | None = None,
        version: int = 1,
        example: Mapping[str, Any] | pydantic.BaseModel | None = None,
    ) -> Topic:
        """Add a topic and return it.

        ``model`` (a pydantic model) or ``schema`` (a JSON Schema, with the ``jsonschema``
        extra) types the topic's ``data``: ``emit`` refuses data that does not fit it, storing
        nothing, and the receivers' OpenAPI document publishes it as schema ``version``.
        ``example`` (default: the schema's own first ``examples`` entry) is data that fits it:
        test events carry it and the document shows it.

        Registering a topic again with identical details returns the existing one, so hosts
        may register at every start-up; different details raise
        :class:`~acadio_webhooks.errors.TopicConflict`.
        """
        if self._frozen:
            raise FrozenCatalog(name)
        validate_topic(name)
        payload = (
            None
            if model is None and schema is None
            else payload_schema(name, model, schema, version, example)
        )
        return self._add(Topic(name, title, description, once_per_day, note, payload))

    def attach_schema(
        self,
        name: str,
        model: type[pydantic.BaseModel] | None = None,
        *,
        schema: Mapping[str, Any] | None = None,
        version: int = 1,
        example: Mapping[str, Any] | pydantic.BaseModel | None = None,
    ) -> Topic:
        """Type the ``data`` of a topic already in the catalog (one of the documented 16, on
        ``TOPICS.copy()``) with a pydantic ``model`` or a JSON ``schema``; return the topic.

        Attaching the same schema again returns the topic unchanged; a different one raises
        :class:`~acadio_webhooks.errors.TopicConflict` (a catalog is built once per start-up,
        with the schema version the code emits). ``example`` as for :meth:`register`.
        """
        if self._frozen:
            raise FrozenCatalog(name)
        topic = self[name]
        payload = payload_schema(name, model, schema, version, example)
        if topic.payload is not None:
            if topic.payload != payload:
                raise TopicConflict(name, f"payload {topic.payload!r} (not {payload!r})")
            return topic
        typed = replace(topic, payload=payload)
        self._topics[name] = typed
        return typed

    def matching(self, pattern: Pattern | str) -> list[Topic]:
        """The catalog topics a subscription to ``pattern`` receives, in catalog order.

        >>> print(*(topic.name for topic in TOPICS.matching("*/*/complete")))
        assessment/session/complete surveys/survey/complete
        """
        parsed = pattern if isinstance(pattern, Pattern) else Pattern(pattern)
        return [topic for topic in self._topics.values() if parsed.matches(topic.name)]

    def copy(self) -> TopicCatalog:
        """A new catalog with the same topics that accepts :meth:`register` (never frozen)."""
        return TopicCatalog(self._topics.values())

    def _add(self, topic: Topic) -> Topic:
        existing = self._topics.setdefault(topic.name, topic)
        if existing != topic:
            raise TopicConflict(topic.name, _difference(existing, topic))
        return existing


def _difference(existing: Topic, new: Topic) -> str:
    return ", ".join(
        f"{field_name} {getattr(existing, field_name)!r} (not {getattr(new, field_name)!r})"
        for field_name in ("title", "description", "once_per_day", "note", "payload")
        if getattr(existing, field_name) != getattr(new, field_name)
    )


TOPICS = TopicCatalog(
    [
        Topic(
            "assessment/session/create",
            "Assessment Session Created",
            "A new assessment session for a student has been created.",
        ),
        Topic(
            "assessment/session/complete",
            "Assessment Session Completed",
            "An assessment session for a student was completed.",
        ),
        Topic(
            "course/completion/create",
            "Course Completion Created",
            "A student has completed a course that is reportable.",
        ),
        Topic(
            "course/completion/update",
            "Course Completion Updated",
            "A student course completion was moved from the Requires Approval state to the "
            "Ready state.",
        ),
        Topic(
            "course/completion/report",
            "Course Completion Report",
            "Student selects a regulator(s) for a course completion, for example they select "
            "a regulator to report to at the end of the course.",
        ),
        Topic(
            "course/activity/create",
            "Course Activity Created",
            "A student has started an activity.",
            once_per_day=True,
            note="This event fires (at most) once a day.",
        ),
        Topic(
            "course/activity/update",
            "Course Activity Updated",
            "A student has completed an activity.",
        ),
        Topic("credits/credit/create", "Credit Created", "A credit was created."),
        Topic("credits/credit/update", "Credit Updated", "A credit was updated."),
        Topic("credits/user/create", "User Credit Created", "A credit was assigned to a user."),
        Topic(
            "credits/user/update",
            "User Credit Updated",
            "A credit was updated in relation to a user.",
        ),
        Topic("identity/user/create", "User Created", "A new user was created."),
        Topic("identity/user/update", "User Updated", "A user was updated."),
        Topic("surveys/survey/create", "Survey Created", "A survey was created."),
        Topic("surveys/survey/update", "Survey Updated", "A survey was updated."),
        Topic("surveys/survey/complete", "Survey Completed", "A survey was completed by a user."),
    ],
    frozen=True,
)
"""The 16 documented topics, read-only; ``TOPICS.copy()`` to add more."""
