"""The OpenAPI document for receivers: valid OpenAPI 3.1 (a real validator), one webhook per
catalog topic, real signed deliveries conform to it, and a receiver model generated from it by
datamodel-code-generator parses a real delivery through ``verify(model=)``."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic
import pytest
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.exceptions import OpenAPIError
from openapi_spec_validator import validate
from werkzeug.datastructures import Headers

from acadio_webhooks import webhooks_openapi
from acadio_webhooks.adapters.clock import FakeClock
from acadio_webhooks.adapters.resolver import StaticResolver
from acadio_webhooks.adapters.storage.memory import MemoryStore
from acadio_webhooks.adapters.transport.recording import RecordingTransport
from acadio_webhooks.dispatcher import Dispatcher
from acadio_webhooks.domain.messages import OutboundRequest
from acadio_webhooks.domain.topics import TOPICS
from acadio_webhooks.domain.verification import verify
from acadio_webhooks.domain.webhooks_openapi import SCHEMA_VERSION_KEY

SECRET = "whsec-openapi-0123456789"
COMPLETION = "course/completion/create"
LAB = "lab/result/create"
SENT_AT = FakeClock().now()


class Regulator(pydantic.BaseModel):
    code: str
    name: str


class CourseCompletion(pydantic.BaseModel):
    """A student completed a reportable course."""

    student_id: int
    course_id: int
    score: float | None = None
    regulators: list[Regulator] = []


LAB_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "LabResult",
    "type": "object",
    "properties": {"student_id": {"type": "integer"}, "unit": {"$ref": "#/$defs/Unit"}},
    "required": ["student_id", "unit"],
    "$defs": {"Unit": {"type": "string", "enum": ["mg", "ml"]}},
}

CATALOG = TOPICS.copy()
CATALOG.attach_schema(
    COMPLETION, CourseCompletion, version=2, example={"student_id": 0, "course_id": 0}
)
CATALOG.attach_schema("course/completion/update", CourseCompletion, version=2)
CATALOG.register("lab/result/create", "Lab Result", "A lab result was recorded.", schema=LAB_SCHEMA)


@dataclass
class WebhookCall:
    """A delivery as openapi-core's ``WebhookRequest`` protocol reads it."""

    name: str
    body: bytes
    parameters: RequestParameters
    method: str = "post"
    content_type: str = "application/json"


def delivered(*events: tuple[str, dict[str, Any]]) -> list[OutboundRequest]:
    """The requests a dispatcher on ``CATALOG`` really sends for ``events``."""
    transport = RecordingTransport()
    dispatcher = Dispatcher(
        MemoryStore(),
        clock=FakeClock(),
        catalog=CATALOG,
        transport=transport,
        resolver=StaticResolver({"hooks.example.com": ["93.184.216.34"]}),
    )
    integration = dispatcher.integrations.install("acme", secret=SECRET)
    dispatcher.integrations.subscribe(integration.id, "*", "https://hooks.example.com/in")
    for topic, data in events:
        dispatcher.emit(topic, data, tenant="acme")
    dispatcher.drain()
    return transport.requests


def as_call(request: OutboundRequest, *, body: bytes | None = None) -> WebhookCall:
    topic = request.headers["X-Acadio-Topic"]
    headers = RequestParameters(header=Headers(request.headers))
    return WebhookCall(name=topic, body=request.body if body is None else body, parameters=headers)


def test_the_document_is_valid_openapi_3_1_for_the_default_and_a_typed_catalog() -> None:
    for catalog in (TOPICS, CATALOG):
        document = webhooks_openapi(catalog)
        validate(document)
        assert list(document["webhooks"]) == [topic.name for topic in catalog]


def test_each_webhook_names_its_topic_headers_body_and_answer() -> None:
    document = webhooks_openapi(CATALOG, title="Northwind LMS webhooks", version="2026.12")
    assert document["info"]["title"] == "Northwind LMS webhooks"
    assert document["info"]["version"] == "2026.12"
    operation = document["webhooks"][COMPLETION]["post"]
    assert operation["summary"] == "Course Completion Created"
    assert operation[SCHEMA_VERSION_KEY] == 2
    headers = {p["name"]: p for p in operation["parameters"] if p["in"] == "header"}
    assert {"webhook-id", "webhook-timestamp", "webhook-signature", "X-Acadio-Hmac-Sha256"} <= {
        name for name, p in headers.items() if p["required"]
    }
    assert headers["X-Acadio-Topic"]["schema"]["const"] == COMPLETION
    assert set(operation["responses"]) == {"2XX", "default"}
    schemas = document["components"]["schemas"]
    envelope = schemas["CourseCompletionCreateEvent"]
    assert envelope["properties"]["topic"]["const"] == COMPLETION
    assert envelope["properties"]["data"] == {
        "$ref": "#/components/schemas/CourseCompletion",
        SCHEMA_VERSION_KEY: 2,
    }
    assert "Regulator" in schemas, "a model's nested models become components of their own"
    untyped = schemas["IdentityUserCreateEvent"]["properties"]["data"]
    assert untyped["type"] == "object"
    assert "$ref" not in untyped


def test_a_json_schemas_own_definitions_are_hoisted_and_still_resolve() -> None:
    schemas = webhooks_openapi(CATALOG)["components"]["schemas"]
    assert schemas["LabResultCreateData"]["properties"]["unit"] == {
        "$ref": "#/components/schemas/LabResultCreateUnit"
    }
    assert schemas["LabResultCreateUnit"] == {"type": "string", "enum": ["mg", "ml"]}
    assert "$schema" not in schemas["LabResultCreateData"]


def test_real_deliveries_conform_and_altered_ones_do_not() -> None:
    openapi = OpenAPI.from_dict(webhooks_openapi(CATALOG))
    requests = delivered(
        (COMPLETION, {"student_id": 7, "course_id": 3, "regulators": [{"code": "x", "name": "X"}]}),
        (LAB, {"student_id": 7, "unit": "mg"}),
        ("identity/user/create", {"anything": ["goes"]}),
    )
    assert len(requests) == 3
    for request in requests:
        openapi.validate_webhook_request(as_call(request))
    completion = next(r for r in requests if r.headers["X-Acadio-Topic"] == COMPLETION)
    body_example = webhooks_openapi(CATALOG)["webhooks"][COMPLETION]["post"]["requestBody"]
    shown = body_example["content"]["application/json"]["example"]
    assert shown["data"] == {"student_id": 0, "course_id": 0, "score": None, "regulators": []}
    openapi.validate_webhook_request(as_call(completion, body=json.dumps(shown).encode()))
    body = json.loads(completion.body)
    body["data"]["student_id"] = "seven"
    with pytest.raises(OpenAPIError):
        openapi.validate_webhook_request(as_call(completion, body=json.dumps(body).encode()))
    unsigned = as_call(completion)
    unsigned.parameters = RequestParameters(
        header=Headers({k: v for k, v in completion.headers.items() if k != "webhook-signature"})
    )
    with pytest.raises(OpenAPIError):
        openapi.validate_webhook_request(unsigned)


def test_a_receiver_model_generated_from_the_document_parses_a_real_delivery(
    tmp_path: Path,
) -> None:
    document = tmp_path / "webhooks.openapi.json"
    document.write_text(json.dumps(webhooks_openapi(CATALOG)))
    generated = tmp_path / "receiver_models.py"
    codegen = Path(sys.executable).with_name("datamodel-codegen")
    subprocess.run(
        [str(codegen), "--input", str(document), "--input-file-type", "openapi",
         "--output", str(generated), "--output-model-type", "pydantic_v2.BaseModel"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    spec = importlib.util.spec_from_file_location("receiver_models", generated)
    assert spec is not None
    assert spec.loader is not None
    models = importlib.util.module_from_spec(spec)
    sys.modules["receiver_models"] = models
    try:
        spec.loader.exec_module(models)
        models.CourseCompletionCreateEvent.model_rebuild()
        [request] = delivered((COMPLETION, {"student_id": 7, "course_id": 3, "score": 0.9}))
        event = verify(
            request.body, request.headers, SECRET, now=SENT_AT, model=models.CourseCompletion
        )
        assert isinstance(event.data, models.CourseCompletion)
        assert (event.data.student_id, event.data.course_id, event.data.score) == (7, 3, 0.9)
        envelope = models.CourseCompletionCreateEvent.model_validate_json(request.body)
        assert envelope.data.student_id == 7
    finally:
        del sys.modules["receiver_models"]
