"""For the tests of the domain's unvalidated fast paths (``settled_attempt``,
``serialised_event``, ``planned_delivery``): draw fields near the edges of validation, and
put what a builder made, or refused, in a form two builders can be compared by."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hypothesis import strategies as st
from pydantic import ValidationError


@st.composite
def fields_near_edges(
    draw: st.DrawFn,
    valid: Mapping[str, st.SearchStrategy[Any]],
    edges: Mapping[str, st.SearchStrategy[Any]],
) -> dict[str, Any]:
    """Valid fields, with at most one or two of them replaced by an edge value."""
    fields = {name: draw(strategy) for name, strategy in valid.items()}
    for name in draw(st.lists(st.sampled_from(sorted(edges)), max_size=2, unique=True)):
        fields[name] = draw(edges[name])
    return fields


def outcome(build: Callable[..., Any], fields: Mapping[str, Any]) -> Any:
    """What ``build(**fields)`` made, or ``"refused: [...]"`` with the fields validation
    named."""
    try:
        return build(**fields)
    except ValidationError as exc:
        return f"refused: {sorted(str(e['loc']) for e in exc.errors())}"
