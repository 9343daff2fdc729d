"""What a topic's ``data`` holds: a pydantic model or a JSON Schema attached to a topic.

``emit`` checks an event's data against its topic's schema before anything is stored, and
the OpenAPI document for receivers (:mod:`acadio_webhooks.domain.webhooks_openapi`) publishes
the same schema, so what a host may send and what a receiver is promised are one definition.

Versions: a topic's schema carries a ``version`` (1, 2, ...) that the receivers' document
publishes. Within one topic a new version may only change *compatibly* — add optional fields,
accept more values — so a receiver written against version N reads every later version by
ignoring fields it does not know. A change that would break such a receiver is a new topic.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from typing import Any, TypeAlias

import pydantic

from acadio_webhooks.errors import InvalidPayloadSchema, PayloadMismatch, listed_problems

__all__ = [
    "EventData",
    "PayloadSchema",
    "ModelSchema",
    "JsonSchema",
    "payload_schema",
    "pydantic_problems",
]

EventData: TypeAlias = Mapping[str, Any] | pydantic.BaseModel
"""An event's ``data`` as a host emits it: a JSON object, or a pydantic model instance."""


class PayloadSchema(ABC):
    """The shape of one topic's ``data``; made by :func:`payload_schema`."""

    __slots__ = ("example", "topic", "version")

    def __init__(self, topic: str, version: int) -> None:
        self.topic = topic
        self.version = _whole_version(topic, version)
        self.example: Mapping[str, Any] | None = None

    def _adopt_example(self, example: object | None) -> None:
        """Keep ``example`` (else the schema's own first ``examples`` entry) as the data test
        events and the receivers' document show, once it is known to fit."""
        if example is None:
            listed = self.json_schema().get("examples")
            example = listed[0] if isinstance(listed, list) and listed else None
        if example is None:
            return
        try:
            self.example = self.check(example)
        except PayloadMismatch as exc:
            raise InvalidPayloadSchema(
                self.topic, f"its example does not fit it: {listed_problems(exc.problems)}"
            ) from None

    @property
    @abstractmethod
    def name(self) -> str:
        """What the schema is called in messages and in the receivers' document."""

    @abstractmethod
    def check(self, data: object) -> Mapping[str, Any]:
        """``data`` as it will be sent (a model's JSON dump; a mapping unchanged), or
        :class:`~acadio_webhooks.errors.PayloadMismatch` naming every offending field."""

    @abstractmethod
    def json_schema(self) -> dict[str, Any]:
        """The JSON Schema (draft 2020-12) of the data as sent; references point into ``$defs``."""

    @abstractmethod
    def _source(self) -> object:
        """What data is checked against (the model, the document): with the version and the
        example, what makes two schemas equal."""

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PayloadSchema) or type(other) is not type(self):
            return NotImplemented
        return (self._source(), self.version, self.example) == (
            other._source(),
            other.version,
            other.example,
        )

    def __hash__(self) -> int:
        return hash((repr(self._source()), self.version))

    def _mismatch(self, problems: dict[str, str]) -> PayloadMismatch:
        return PayloadMismatch(self.topic, f"{self.name} v{self.version}", problems)


class ModelSchema(PayloadSchema):
    """A pydantic model as a topic's schema: data is validated by it and sent as its JSON dump
    (by alias), so fields the model does not declare are dropped unless it forbids them."""

    __slots__ = ("model",)

    def __init__(
        self,
        topic: str,
        model: type[pydantic.BaseModel],
        version: int,
        example: object | None = None,
    ) -> None:
        super().__init__(topic, version)
        self.model = model
        self._adopt_example(example)

    @property
    def name(self) -> str:
        return self.model.__name__

    def check(self, data: object) -> Mapping[str, Any]:
        if isinstance(data, self.model):
            instance = data
        else:
            try:
                instance = self.model.model_validate(data)
            except pydantic.ValidationError as exc:
                raise self._mismatch(pydantic_problems(exc)) from None
        dumped: dict[str, Any] = instance.model_dump(mode="json", by_alias=True)
        return dumped

    def json_schema(self) -> dict[str, Any]:
        return self.model.model_json_schema(mode="serialization")

    def _source(self) -> object:
        return self.model

    def __repr__(self) -> str:
        return f"ModelSchema({self.model.__qualname__}, version={self.version})"


class JsonSchema(PayloadSchema):
    """A JSON Schema document as a topic's schema (the ``jsonschema`` extra checks data
    against it; draft 2020-12 unless its ``$schema`` names another; formats are asserted)."""

    __slots__ = ("_schema", "_validator")

    def __init__(
        self,
        topic: str,
        schema: Mapping[str, Any],
        version: int,
        example: object | None = None,
    ) -> None:
        super().__init__(topic, version)
        try:
            import jsonschema
        except ImportError:  # pragma: no cover - the extra is part of the test environment
            raise InvalidPayloadSchema(
                topic,
                "checking data against a JSON Schema needs the 'jsonschema' extra "
                "(pip install 'acadio-webhooks[jsonschema]'), or give a pydantic model",
            ) from None
        if not isinstance(schema, Mapping):
            raise InvalidPayloadSchema(
                topic, f"a JSON Schema is a mapping, not {type(schema).__name__}"
            )
        document = dict(schema)
        declared = document.get("type", "object")
        if declared != "object" and not (isinstance(declared, list) and "object" in declared):
            raise InvalidPayloadSchema(
                topic, f"data is a JSON object, but the schema's type is {declared!r}"
            )
        validator_class = jsonschema.validators.validator_for(
            document, default=jsonschema.Draft202012Validator
        )
        try:
            validator_class.check_schema(document)
        except jsonschema.SchemaError as exc:
            where = "".join(f"[{step!r}]" for step in exc.path)
            raise InvalidPayloadSchema(topic, f"schema{where}: {exc.message}") from None
        self._schema = document
        self._validator = validator_class(document, format_checker=validator_class.FORMAT_CHECKER)
        self._adopt_example(example)

    @property
    def name(self) -> str:
        title = self._schema.get("title")
        return title if isinstance(title, str) and title else "JSON Schema"

    def check(self, data: object) -> Mapping[str, Any]:
        if not isinstance(data, Mapping):
            raise self._mismatch({"data": f"must be a JSON object, not {type(data).__name__}"})
        errors = sorted(self._validator.iter_errors(data), key=lambda e: list(map(str, e.path)))
        if errors:
            raise self._mismatch({_place(error.path): error.message for error in errors})
        return data

    def json_schema(self) -> dict[str, Any]:
        return dict(self._schema)

    def _source(self) -> object:
        return self._schema

    def __repr__(self) -> str:
        return f"JsonSchema({self.name!r}, version={self.version})"


def payload_schema(
    topic: str,
    model: type[pydantic.BaseModel] | None,
    schema: Mapping[str, Any] | None,
    version: int,
    example: object | None = None,
) -> PayloadSchema:
    """The :class:`PayloadSchema` for exactly one of ``model`` and ``schema``, with an
    ``example`` of its data (checked against it) for test events and receivers."""
    if (model is None) == (schema is None):
        raise TypeError(f"topic {topic!r}: give exactly one of model= and schema=")
    if model is not None:
        return ModelSchema(topic, _model_class(topic, model), version, example)
    assert schema is not None
    return JsonSchema(topic, schema, version, example)


def pydantic_problems(error: pydantic.ValidationError, root: str = "data") -> dict[str, str]:
    """Each error of ``error`` as ``{"data['scores'][2]": "Input should be ..."}``; the input
    values are left out, so a message never repeats what was sent."""
    problems: dict[str, str] = {}
    for item in error.errors(include_url=False, include_input=False):
        where = _place(item["loc"], root)
        problems[where] = (
            item["msg"] if where not in problems else f"{problems[where]}; {item['msg']}"
        )
    return problems


def _whole_version(topic: str, version: object) -> int:
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InvalidPayloadSchema(topic, f"version must be a whole number >= 1, not {version!r}")
    return version


def _model_class(topic: str, model: object) -> type[pydantic.BaseModel]:
    if not (isinstance(model, type) and issubclass(model, pydantic.BaseModel)):
        raise InvalidPayloadSchema(
            topic, f"model must be a pydantic BaseModel subclass, not {model!r}"
        )
    return model


def _place(path: Iterable[Any], root: str = "data") -> str:
    return root + "".join(f"[{step!r}]" for step in path)
