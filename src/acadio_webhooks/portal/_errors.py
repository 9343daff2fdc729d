"""How the portal words what went wrong: field-level messages for bad input, the two
portal-only refusals (a conflict with the current state, a form without a valid CSRF token),
a stored record that cannot be read, and the HTTP status of every other library exception.

Library exceptions for bad input become ``{field: message}`` maps that the JSON API returns
as ``422 {"errors": {...}}`` and the HTML forms print next to each field. Messages never
repeat a submitted value: one of them may be a secret key.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import pydantic

from acadio_webhooks.errors import (
    AcadioWebhooksError,
    IntegrationInactive,
    InvalidEndpoint,
    InvalidInput,
    InvalidPattern,
    InvalidTopic,
    NotFound,
    PatternMatchesNothing,
    StorageError,
    UnknownTopic,
    UnreadableRecord,
    listed_problems,
)

__all__ = [
    "BadInput",
    "Conflict",
    "failure_status",
    "field_errors",
    "pydantic_errors",
    "unreadable",
]

logger = logging.getLogger("acadio_webhooks.portal")

# The library names a secret after the model field that holds it; forms and the API call
# it "secret" everywhere.
_FIELD_ALIASES = {"value": "secret", "secrets": "secret", "secrets.0.value": "secret"}


class BadInput(AcadioWebhooksError, ValueError):
    """Input the portal refuses before the library sees it, as ``{field: message}``."""

    def __init__(self, problems: Mapping[str, str]) -> None:
        self.problems = dict(problems)
        super().__init__(listed_problems(self.problems))


class Conflict(AcadioWebhooksError, RuntimeError):
    """The request is well formed but the current state forbids it (HTTP 409)."""


# What each field is called in a message to the administrator.
_NOUNS = {
    "secret": "the secret key",
    "notification_email": "an e-mail address",
    "pattern": "a pattern",
    "endpoint": "the endpoint's address",
}


def pydantic_errors(
    exc: pydantic.ValidationError, *, default_field: str = "body"
) -> dict[str, str]:
    """``{field: message}`` from a pydantic error, in the administrator's words, without
    echoing any input."""
    problems: dict[str, str] = {}
    # The input is looked at only to tell an empty field from a short one; never repeated.
    for error in exc.errors(include_url=False):
        name = ".".join(str(part) for part in error["loc"]) or default_field
        name = _FIELD_ALIASES.get(name, name)
        empty = error["type"] == "missing" or error.get("input") in ("", None)
        worded = _worded(name, error["type"], error.get("ctx") or {}, error["msg"], empty=empty)
        problems.setdefault(name, worded)
    return problems


def _worded(
    name: str, kind: str, context: Mapping[str, object], message: str, *, empty: bool
) -> str:
    """A validator's message as the portal says it: what to do, not what failed inside."""
    noun = _NOUNS.get(name)
    if noun is None:
        return message
    shortest, longest = context.get("min_length"), context.get("max_length")
    if empty and kind in ("missing", "string_too_short"):
        return f"Enter {noun}"
    if kind == "string_too_short":
        return f"{noun[0].upper()}{noun[1:]} must have at least {shortest} characters"
    if kind == "string_too_long":
        return (
            f"{noun[0].upper()}{noun[1:]} can have at most {longest} characters; a longer one "
            "is refused, never shortened"
        )
    if name == "notification_email":
        return "Enter an e-mail address in the form name@school.example"
    return message


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
        return {"endpoint": _endpoint_problem(exc)}
    if isinstance(exc, (InvalidTopic, UnknownTopic)):
        return {"topic": str(exc)}
    return None


def _endpoint_problem(exc: InvalidEndpoint) -> str:
    if "://" not in exc.url or exc.problem == "the URL has no host":
        return "Enter the full address, starting with https://"
    if exc.problem.startswith("scheme must be https"):
        return "Use a secure address starting with https:// (http:// is not accepted)"
    return f"This address cannot receive webhooks: {exc.problem}"


def unreadable(exc: UnreadableRecord) -> str:
    """What the tenant is told of a stored record that cannot be read: which one, and that
    trying again will not help (the server log says which fields are at fault)."""
    return (
        f"this {exc.kind} record ({exc.record_id}) cannot be read: its stored data is invalid. "
        "Contact support and quote its id."
    )


def failure_status(exc: AcadioWebhooksError, where: str) -> int | None:
    """The HTTP status of a library exception that no field of the input caused: 404 for an
    unknown record (another tenant's is answered as unknown), 409 for a state that forbids the
    request, 500 for a stored record that cannot be read, 503 for a store outage. The last two
    are logged, naming ``where`` (the operation or the page), since the tenant is told little.

    None for anything else: bad input (see :func:`field_errors`) or a bug, which the caller
    words or lets through. Both the JSON API and the HTML pages answer by this one mapping, in
    their own words.
    """
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, (Conflict, IntegrationInactive)):
        return 409
    if isinstance(exc, UnreadableRecord):
        logger.error("unreadable record on %s: %s", where, exc)
        return 500
    if isinstance(exc, StorageError):
        logger.error("webhooks store failed on %s", where, exc_info=exc)
        return 503
    return None
