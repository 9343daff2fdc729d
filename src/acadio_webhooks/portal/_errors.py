"""How the portal words what went wrong: field-level messages for bad input, the two
portal-only refusals (a conflict with the current state, a form without a valid CSRF token),
and a stored record that cannot be read.

Library exceptions for bad input become ``{field: message}`` maps that the JSON API returns
as ``422 {"errors": {...}}`` and the HTML forms print next to each field. Messages never
repeat a submitted value: one of them may be a secret key.
"""

from __future__ import annotations

from collections.abc import Mapping

import pydantic

from acadio_webhooks.errors import (
    AcadioWebhooksError,
    InvalidEndpoint,
    InvalidInput,
    InvalidPattern,
    InvalidTopic,
    PatternMatchesNothing,
    UnknownTopic,
    UnreadableRecord,
)

__all__ = ["BadInput", "Conflict", "field_errors", "pydantic_errors", "unreadable"]

# The library names a secret after the model field that holds it; forms and the API call
# it "secret" everywhere.
_FIELD_ALIASES = {"value": "secret", "secrets": "secret", "secrets.0.value": "secret"}


class BadInput(AcadioWebhooksError, ValueError):
    """Input the portal refuses before the library sees it, as ``{field: message}``."""

    def __init__(self, problems: Mapping[str, str]) -> None:
        self.problems = dict(problems)
        super().__init__("; ".join(f"{name}: {text}" for name, text in self.problems.items()))


class Conflict(AcadioWebhooksError, RuntimeError):
    """The request is well formed but the current state forbids it (HTTP 409)."""


def pydantic_errors(
    exc: pydantic.ValidationError, *, default_field: str = "body"
) -> dict[str, str]:
    """``{field: message}`` from a pydantic error, without echoing any input."""
    problems: dict[str, str] = {}
    for error in exc.errors(include_input=False, include_url=False, include_context=False):
        name = ".".join(str(part) for part in error["loc"]) or default_field
        problems.setdefault(_FIELD_ALIASES.get(name, name), error["msg"])
    return problems


def field_errors(exc: Exception) -> dict[str, str] | None:
    """The field-level problems a library exception describes, or None if it is no input
    error (then the caller must let it through: it is a bug or an outage, not bad input)."""
    if isinstance(exc, (BadInput, InvalidInput)):
        return {_FIELD_ALIASES.get(name, name): text for name, text in exc.problems.items()}
    if isinstance(exc, PatternMatchesNothing):
        return {
            "pattern": f"{exc.pattern!r} matches no known topic; check for a typo, or allow "
            "future topics if it is meant for topics added later"
        }
    if isinstance(exc, InvalidPattern):
        return {"pattern": str(exc)}
    if isinstance(exc, InvalidEndpoint):
        return {"endpoint": f"refused: {exc.problem}"}
    if isinstance(exc, (InvalidTopic, UnknownTopic)):
        return {"topic": str(exc)}
    return None


def unreadable(exc: UnreadableRecord) -> str:
    """What the tenant is told of a stored record that cannot be read: which one, and that
    trying again will not help (the server log says which fields are at fault)."""
    return (
        f"this {exc.kind} record ({exc.record_id}) cannot be read: its stored data is invalid. "
        "Contact support and quote its id."
    )
