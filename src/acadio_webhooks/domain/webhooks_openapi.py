"""The OpenAPI 3.1 document for receivers: one ``webhooks`` entry per topic of a catalog.

Each entry is the request a receiver gets: the envelope of the wire format with the topic's
``data`` schema (a typed topic's model or JSON Schema; any JSON object otherwise), the
signature headers, and the answer the sender expects. Code generators read the document
(``datamodel-codegen --input-file-type openapi``) and request validators check deliveries
against it.
"""

from __future__ import annotations

import copy
import re
from typing import Any, Literal

from pydantic.json_schema import models_json_schema

from acadio_webhooks._version import __version__
from acadio_webhooks.domain.payloads import JsonSchema, ModelSchema, PayloadSchema
from acadio_webhooks.domain.signing import (
    HMAC_HEADER,
    ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    TOPIC_HEADER,
)
from acadio_webhooks.domain.topics import TOPICS, Topic, TopicCatalog

__all__ = ["webhooks_openapi", "SCHEMA_VERSION_KEY"]

SCHEMA_VERSION_KEY = "x-acadio-schema-version"
"""The key, on each webhook operation and its data schema, holding the topic's schema version."""

_REF = "#/components/schemas/{model}"
_EVENT_ID = r"^evt_[0-9a-f]{32}$"
_EXAMPLE_ID = "evt_019b78a3c4b8" + "7f3e2a1c9b8d6e5f4a3b"

_DESCRIPTION = f"""\
Every event is POSTed as JSON to each endpoint subscribed to a pattern that matches its topic.

**Verify before you trust.** `{HMAC_HEADER}` is the base64 HMAC-SHA256 of the raw body under
the integration's secret key. The Standard Webhooks headers sign
`{ID_HEADER}.{TIMESTAMP_HEADER}.body` with the same key (`{SIGNATURE_HEADER}`: `v1,<base64>`,
several space-separated during a key rotation); reject a timestamp more than five minutes
away. Python receivers call `acadio_webhooks.verify(body, headers, secret)`.

**Answer fast.** Any 2xx ends the delivery. Anything else (another status, a redirect, a
timeout, a refused connection) is retried up to 6 times on a backoff schedule; `Retry-After`
on 429 or 503 is honoured. The same event can arrive more than once: de-duplicate on
`{ID_HEADER}` (equal to the body's `id`).

**Schema versions.** A typed topic's `data` schema carries `{SCHEMA_VERSION_KEY}`. A new
version of a topic only ever adds optional fields or accepts more values, so a receiver built
against version N reads every later version as long as it ignores fields it does not know
(generated models must allow extra fields). A change that would break such a receiver is
published as a new topic, never as a new version of an old one. Topics without a published
schema carry the host's JSON object as `data`.

**Test events** (sent from the webhooks settings) carry a typed topic's example as `data`, or
`{{"test": true, "message": "..."}}` for a topic without a schema or an example."""


def webhooks_openapi(
    catalog: TopicCatalog = TOPICS,
    *,
    title: str = "Acadio webhooks",
    version: str = __version__,
) -> dict[str, Any]:
    """The OpenAPI 3.1 document describing every topic of ``catalog`` as a webhook.

    ``title`` and ``version`` fill the document's ``info``; ``version`` is the document's own
    version (default: this library's), independent of each topic's schema version.
    """
    schemas = _DataSchemas(list(catalog))
    webhooks: dict[str, Any] = {}
    components: dict[str, Any] = dict(schemas.definitions)
    for topic in catalog:
        event_name = _unused(components, _pascal(topic.name) + "Event")
        components[event_name] = _envelope(topic, schemas.reference(topic))
        webhooks[topic.name] = {"post": _operation(topic, event_name)}
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": _DESCRIPTION},
        "webhooks": webhooks,
        "components": {"schemas": components},
    }


class _DataSchemas:
    """The ``data`` schemas of a catalog's topics, as components: models through pydantic (so
    two topics sharing a model share its definitions), JSON Schemas with their ``$defs``
    hoisted under a name prefixed by the topic."""

    def __init__(self, topics: list[Topic]) -> None:
        self.definitions: dict[str, Any] = {}
        self._references: dict[str, dict[str, Any]] = {}
        models = sorted(
            {topic.payload.model for topic in topics if isinstance(topic.payload, ModelSchema)},
            key=lambda model: (model.__module__, model.__qualname__),
        )
        mode: Literal["serialization"] = "serialization"
        refs, top = models_json_schema([(model, mode) for model in models], ref_template=_REF)
        self.definitions.update(top.get("$defs", {}))
        for topic in topics:
            payload = topic.payload
            if isinstance(payload, ModelSchema):
                self._references[topic.name] = _versioned(refs[(payload.model, mode)], payload)
            elif isinstance(payload, JsonSchema):
                self._references[topic.name] = self._hoisted(topic.name, payload)

    def reference(self, topic: Topic) -> dict[str, Any]:
        """The schema of ``topic``'s data: a reference, or any object for an untyped topic."""
        found = self._references.get(topic.name)
        if found is not None:
            return found
        return {
            "type": "object",
            "description": "The host's JSON object; no schema is published for this topic.",
        }

    def _hoisted(self, topic: str, payload: JsonSchema) -> dict[str, Any]:
        prefix = _pascal(topic)
        schema = copy.deepcopy(payload.json_schema())
        schema.pop("$schema", None)
        local_defs: dict[str, Any] = schema.pop("$defs", {})
        renamed = {name: f"{prefix}{name}" for name in local_defs}
        for name, definition in local_defs.items():
            self.definitions[renamed[name]] = _rewritten(definition, renamed)
        name = f"{prefix}Data"
        self.definitions[name] = _rewritten(schema, renamed)
        return _versioned({"$ref": _REF.format(model=name)}, payload)


def _versioned(reference: dict[str, Any], payload: PayloadSchema) -> dict[str, Any]:
    # A $ref with sibling keywords is valid in OpenAPI 3.1 (JSON Schema 2020-12).
    return {**reference, SCHEMA_VERSION_KEY: payload.version}


def _rewritten(node: Any, renamed: dict[str, str]) -> Any:
    """``node`` with every ``#/$defs/X`` reference pointing at its hoisted component."""
    if isinstance(node, dict):
        out = {key: _rewritten(value, renamed) for key, value in node.items()}
        ref = out.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            out["$ref"] = _REF.format(model=renamed.get(ref[8:], ref[8:]))
        return out
    if isinstance(node, list):
        return [_rewritten(item, renamed) for item in node]
    return node


def _envelope(topic: Topic, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "title": f"{topic.title} event",
        "description": f"The body of a `{topic.name}` delivery.",
        "type": "object",
        "required": ["id", "topic", "created_at", "tenant", "data"],
        "properties": {
            "id": {
                "type": "string",
                "pattern": _EVENT_ID,
                "description": f"The event id, equal to `{ID_HEADER}`; the same on every retry.",
            },
            "topic": {"type": "string", "const": topic.name},
            "created_at": {
                "type": "string",
                "format": "date-time",
                "description": "When the event happened (RFC 3339, UTC).",
            },
            "tenant": {
                "type": "string",
                "minLength": 1,
                "maxLength": 255,
                "description": "The school (tenant) the event belongs to.",
            },
            "data": data,
        },
    }


def _operation(topic: Topic, event_name: str) -> dict[str, Any]:
    description = topic.description if topic.note is None else f"{topic.description} {topic.note}"
    operation: dict[str, Any] = {
        "operationId": _camel(topic.name),
        "summary": topic.title,
        "description": description,
        "tags": [topic.name.split("/", 1)[0]],
        "parameters": _headers(topic),
        "requestBody": {
            "required": True,
            "content": {"application/json": _body(topic, event_name)},
        },
        "responses": {
            "2XX": {
                "description": "Received. Any 2xx ends the delivery; answer before doing slow work."
            },
            "default": {
                "description": "Any other answer, a redirect or a timeout fails the "
                "attempt; it is retried up to 6 times (Retry-After on 429/503 honoured)."
            },
        },
    }
    if topic.payload is not None:
        operation[SCHEMA_VERSION_KEY] = topic.payload.version
    return operation


def _body(topic: Topic, event_name: str) -> dict[str, Any]:
    body: dict[str, Any] = {"schema": {"$ref": _REF.format(model=event_name)}}
    if topic.payload is not None and topic.payload.example is not None:
        body["example"] = {
            "id": _EXAMPLE_ID,
            "topic": topic.name,
            "created_at": "2026-01-01T09:30:00Z",
            "tenant": "school-42",
            "data": dict(topic.payload.example),
        }
    return body


def _headers(topic: Topic) -> list[dict[str, Any]]:
    def header(
        name: str, description: str, schema: dict[str, Any], *, required: bool = True
    ) -> dict[str, Any]:
        return {
            "name": name,
            "in": "header",
            "required": required,
            "description": description,
            "schema": {"type": "string", **schema},
        }

    return [
        header(ID_HEADER, "The event id; de-duplicate on it.", {"pattern": _EVENT_ID}),
        header(
            TIMESTAMP_HEADER,
            "Unix seconds when this attempt was signed.",
            {"pattern": "^[0-9]+$"},
        ),
        header(
            SIGNATURE_HEADER,
            f"`v1,` + base64 HMAC-SHA256 of `{ID_HEADER}.{TIMESTAMP_HEADER}.body`; "
            "space-separated, one per secret during a rotation.",
            {"pattern": r"^v1,[A-Za-z0-9+/=]+( v1,[A-Za-z0-9+/=]+)*$"},
        ),
        header(
            HMAC_HEADER, "Base64 HMAC-SHA256 of the raw body.", {"pattern": "^[A-Za-z0-9+/=]+$"}
        ),
        header(TOPIC_HEADER, "The topic (not signed; equal to the body's).", {"const": topic.name}),
        header(
            "traceparent",
            "W3C trace context, sent only when the sender traces (not signed).",
            {},
            required=False,
        ),
    ]


def _unused(taken: dict[str, Any], name: str) -> str:
    """``name``, or ``name2``, ``name3``... when topics like ``a-b/c`` and ``a_b/c`` meet."""
    candidate, number = name, 1
    while candidate in taken:
        number += 1
        candidate = f"{name}{number}"
    return candidate


def _pascal(topic: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[/_-]+", topic) if part)


def _camel(topic: str) -> str:
    pascal = _pascal(topic)
    return pascal[:1].lower() + pascal[1:]
