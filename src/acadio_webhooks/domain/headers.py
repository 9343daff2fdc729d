"""Custom headers an endpoint receives on every attempt (an API gateway's key, a bearer token).

Their values are secrets: kept out of reprs, logs, exceptions and every listing (names
only). A set of headers is refused, naming the header, when a name is not an RFC 9110 token,
a value holds a control character (CR/LF would split the request), there are more than
:data:`MAX_ENDPOINT_HEADERS` or more than :data:`MAX_ENDPOINT_HEADER_BYTES` in all, or a name
is one the library or HTTP itself owns (:func:`is_reserved_header`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "MAX_ENDPOINT_HEADERS",
    "MAX_ENDPOINT_HEADER_BYTES",
    "RESERVED_HEADERS",
    "RESERVED_HEADER_PREFIXES",
    "is_reserved_header",
    "endpoint_header_problems",
]

MAX_ENDPOINT_HEADERS = 20
"""Most custom headers one subscription may have."""

MAX_ENDPOINT_HEADER_BYTES = 4096
"""Most bytes of names and values together (UTF-8), per subscription."""

RESERVED_HEADERS = frozenset(
    {
        # Framing: set by the HTTP client for the body it sends.
        "host",
        "content-length",
        "content-type",
        "content-encoding",
        "transfer-encoding",
        # Hop-by-hop (RFC 9110 section 7.6.1): meaningless or harmful end to end.
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
        # Set by the library: trace context of the attempt.
        "traceparent",
        "tracestate",
    }
)
"""Names (lower case) a subscription may not set."""

RESERVED_HEADER_PREFIXES = ("x-acadio-", "webhook-")
"""Name prefixes (lower case) of the signature and event headers, which receivers trust."""

# RFC 9110 section 5.6.2: token = 1*tchar.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# RFC 9110 section 5.5: visible ASCII, space and tab; nothing that could end the field.
_FIELD_VALUE = re.compile(r"[\t\x20-\x7e]*")


def is_reserved_header(name: str) -> bool:
    """Whether ``name`` belongs to the library or to HTTP itself (any case)."""
    lowered = name.lower()
    return lowered in RESERVED_HEADERS or lowered.startswith(RESERVED_HEADER_PREFIXES)


def endpoint_header_problems(headers: Mapping[Any, Any]) -> dict[str, str]:
    """What is wrong with ``headers``, keyed ``headers.<name>`` (or ``headers``); ``{}`` if
    nothing is. The messages never quote a value. ``Any``: input from forms and JSON is
    checked here, names and values that are not text included."""
    problems: dict[str, str] = {}
    if len(headers) > MAX_ENDPOINT_HEADERS:
        problems["headers"] = (
            f"{len(headers)} headers: at most {MAX_ENDPOINT_HEADERS} per subscription"
        )
    seen: dict[str, str] = {}
    size = 0
    for name, value in headers.items():
        field = f"headers.{_printable(name)}"
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            problems[field] = "not a valid header name (RFC 9110 token characters only)"
            continue
        if not isinstance(value, str):
            problems[field] = f"the value must be text, not {type(value).__name__}"
            continue
        size += len(name.encode()) + len(value.encode())
        if is_reserved_header(name):
            problems[field] = "reserved: the library or HTTP itself sets this header"
        elif not _FIELD_VALUE.fullmatch(value):
            problems[field] = (
                "the value holds a line break, another control character or non-ASCII text"
            )
        elif value != value.strip(" \t"):
            problems[field] = "the value starts or ends with whitespace"
        elif name.lower() in seen:
            problems[field] = f"given twice (also as {seen[name.lower()]!r}); names ignore case"
        seen.setdefault(name.lower(), name)
    if size > MAX_ENDPOINT_HEADER_BYTES and "headers" not in problems:
        problems["headers"] = (
            f"{size} bytes of names and values: at most {MAX_ENDPOINT_HEADER_BYTES}"
        )
    return problems


def _printable(name: object) -> str:
    # A name that is not a token may hold anything: show it escaped and short.
    text = name if isinstance(name, str) else repr(name)
    shown = text.encode("unicode_escape").decode("ascii")
    return shown if len(shown) <= 60 else shown[:57] + "..."
