"""The OpenAPI 3.1 document of the JSON API, generated from the operation table.

Why not starlette's ``SchemaGenerator``: it reads YAML from docstrings (PyYAML would become a
dependency of the ``portal`` extra) and the YAML would restate by hand what the pydantic
models already say. Here every schema comes from the very models that validate requests and
shape responses (pydantic emits JSON Schema 2020-12, which OpenAPI 3.1 uses as is), and
paths, parameters and status codes come from the same :data:`._api.OPERATIONS` the routes
are built from. The tests check the document against the running app with schemathesis.
"""

from __future__ import annotations

from typing import Any, Literal

import pydantic
from pydantic.json_schema import models_json_schema

from acadio_webhooks.portal._api import Operation
from acadio_webhooks.portal._schemas import ErrorOut, ValidationErrorOut
from acadio_webhooks.portal._tenancy import ID_PATTERN

__all__ = ["openapi_document"]

_REF = "#/components/schemas/{model}"
_REASONS = {
    401: "Not signed in: the host's tenant_of returned no tenant.",
    404: "No such object for this tenant (another tenant's ids are answered the same way).",
    409: "The current state forbids this (see the message).",
    415: "The body must be sent as Content-Type: application/json.",
    422: "Bad input: a message for each offending field.",
}
Mode = Literal["validation", "serialization"]


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is absent or a value; it cannot be JSON null."""
    options = schema.get("anyOf")
    if options is not None:
        kept = [option for option in options if option.get("type") != "null"]
        rest = {k: v for k, v in schema.items() if k not in ("anyOf", "default")}
        schema = {**kept[0], **rest} if len(kept) == 1 else {**rest, "anyOf": kept}
    return {k: v for k, v in schema.items() if k != "title"}


def _query_parameters(
    model: type[pydantic.BaseModel], defs: dict[str, Any]
) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=_REF)
    defs.update(schema.pop("$defs", {}))
    required = set(schema.get("required", ()))
    parameters = []
    for name, prop in schema["properties"].items():
        parameter: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": _without_null(prop),
        }
        if "description" in prop:
            parameter["description"] = prop["description"]
        parameters.append(parameter)
    return parameters


def _json(ref: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ref}}}


def openapi_document(
    operations: tuple[Operation, ...], *, title: str, version: str
) -> dict[str, Any]:
    """The OpenAPI 3.1 document describing ``operations``."""
    wanted: set[tuple[type[pydantic.BaseModel], Mode]] = {
        (ErrorOut, "serialization"),
        (ValidationErrorOut, "serialization"),
    }
    for operation in operations:
        if operation.body is not None:
            wanted.add((operation.body, "validation"))
        if operation.response is not None:
            wanted.add((operation.response, "serialization"))
    ordered = sorted(wanted, key=lambda pair: (pair[0].__name__, pair[1]))
    refs, top = models_json_schema(ordered, ref_template=_REF)
    defs: dict[str, Any] = dict(top.get("$defs", {}))

    paths: dict[str, dict[str, Any]] = {}
    for operation in operations:
        parameters = [
            {"name": name, "in": "path", "required": True,
             "schema": {"type": "string", "pattern": ID_PATTERN}}
            for name in operation.path_params
        ]  # fmt: skip
        if operation.query is not None:
            parameters += _query_parameters(operation.query, defs)
        responses: dict[str, Any] = {}
        if operation.response is None:
            responses[str(operation.status)] = {"description": operation.summary}
        else:
            ref = refs[(operation.response, "serialization")]
            responses[str(operation.status)] = _json(ref, operation.summary)
        for status in operation.error_statuses:
            model = ValidationErrorOut if status == 422 else ErrorOut
            responses[str(status)] = _json(refs[(model, "serialization")], _REASONS[status])
        entry: dict[str, Any] = {
            "operationId": operation.operation_id,
            "summary": operation.summary,
            "tags": [operation.tag],
            "parameters": parameters,
            "responses": responses,
        }
        if operation.handler.__doc__:
            entry["description"] = operation.handler.__doc__
        if operation.body is not None:
            ref = refs[(operation.body, "validation")]
            entry["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref}},
            }
        paths.setdefault(operation.path, {})[operation.method.lower()] = entry

    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"{title} API",
            "version": version,
            "description": (
                "Manage one tenant's webhooks integration, subscriptions and delivery log. "
                "Authentication is the host application's; every request acts for the tenant "
                "the host names, and requests with a body must be application/json."
            ),
        },
        "paths": paths,
        "components": {"schemas": defs},
    }
