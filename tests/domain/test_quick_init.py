"""``quick_init``: the frozen dataclasses a worker makes per delivery are built exactly as
:mod:`dataclasses` would build them, arguments, defaults, factories and errors alike."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acadio_webhooks.domain._quick_init import quick_init
from acadio_webhooks.domain.messages import OutboundRequest, Settlement, TransportResult, WorkItem
from acadio_webhooks.domain.store_rules import HealthChange

QUICK = [WorkItem, OutboundRequest, TransportResult, Settlement, HealthChange]


def _as_dataclasses_builds_it(cls: type) -> type:
    """The same fields, with the ``__init__`` that :mod:`dataclasses` generates."""
    specs = []
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            specs.append((f.name, Any, field(default=f.default)))
        elif f.default_factory is not dataclasses.MISSING:
            specs.append((f.name, Any, field(default_factory=f.default_factory)))
        else:
            specs.append((f.name, Any))
    return dataclasses.make_dataclass(cls.__name__, specs, frozen=True)


@st.composite
def calls(draw: st.DrawFn, cls: type) -> tuple[list[object], dict[str, object]]:
    """Arguments for ``cls``: some leading fields by position, the rest by name, optional ones
    left out at random, now and then one too many or one unknown."""
    every = dataclasses.fields(cls)
    values = {f.name: draw(st.integers() | st.text(max_size=3) | st.none()) for f in every}
    given_names = [
        f.name
        for f in every
        if (f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)
        or draw(st.booleans())
    ]
    if given_names and draw(st.integers(0, 9)) == 0:
        given_names.remove(draw(st.sampled_from(given_names)))  # a required one may go missing
    positional = draw(st.integers(0, len(every)))
    args = [values[f.name] for f in every[:positional]]
    kwargs = {
        name: values[name]
        for name in given_names
        if name not in {f.name for f in every[:positional]}
    }
    if draw(st.integers(0, 9)) == 0:
        kwargs["no_such_field"] = 1
    return args, kwargs


def _built(cls: type, args: list[object], kwargs: dict[str, object]) -> dict[str, Any] | str:
    try:
        return dict(vars(cls(*args, **kwargs)))
    except TypeError:
        return "TypeError"


@pytest.mark.parametrize("cls", QUICK, ids=lambda cls: cls.__name__)
@given(data=st.data())
def test_a_quick_init_builds_what_the_dataclass_init_builds(cls: type, data: st.DataObject) -> None:
    args, kwargs = data.draw(calls(cls))
    assert _built(cls, args, kwargs) == _built(_as_dataclasses_builds_it(cls), args, kwargs)


def test_instances_stay_frozen_comparable_and_replaceable() -> None:
    result = TransportResult(status_code=200, duration=0.5)
    assert result == TransportResult(200, 0.5, b"", None, None, None)
    assert hash(result) == hash(TransportResult(status_code=200, duration=0.5))
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.status_code = 500  # type: ignore[misc]
    assert dataclasses.replace(result, status_code=503).status_code == 503
    assert repr(result).startswith("TransportResult(status_code=200, duration=0.5")


def test_a_default_factory_runs_for_each_instance_left_without_the_field() -> None:
    @quick_init
    @dataclass(frozen=True)
    class Basket:
        owner: str
        items: list[str] = field(default_factory=list)

    first, second = Basket("a"), Basket("b")
    assert first.items == []
    assert first.items is not second.items
    mine = ["x"]
    assert Basket("c", mine).items is mine


def test_classes_it_cannot_build_as_dataclasses_would_are_refused() -> None:
    class Plain:
        pass

    @dataclass
    class Mutable:
        a: int

    @dataclass(frozen=True, slots=True)
    class Slotted:
        a: int

    @dataclass(frozen=True)
    class Checked:
        a: int

        def __post_init__(self) -> None:
            pass

    @dataclass(frozen=True, kw_only=True)
    class KeywordsOnly:
        a: int

    @dataclass(frozen=True)
    class Derived:
        a: int
        b: int = field(init=False, default=0)

    for cls in (Plain, Mutable, Slotted, Checked, KeywordsOnly, Derived):
        with pytest.raises(TypeError, match=cls.__qualname__):
            quick_init(cls)
