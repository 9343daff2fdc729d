"""Hot statements compiled once per dialect and run with driver-ready parameters.

``Connection.execute`` builds, type-converts and checks a parameter dictionary for every row
it is given and a mapping for every row it returns (``construct_params``, the bind and
result processors); on the worker's claim and settle path that came to more CPU per delivery
than SQLite itself spent (docs/performance.md has the profile). A :class:`Prepared` statement
is compiled once; each row's parameters go through the columns' own bind processors (the
same conversions, only where a type has one) into the tuple or dictionary the driver's
parameter style wants, and results come back as plain tuples through the columns' result
processors. ``exec_driver_sql`` runs it, so SQLAlchemy's transaction, events and error
wrapping stay as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

__all__ = ["Prepared", "prepared"]

_Convert = Callable[[Any], Any]
_REQUIRED = object()


@dataclass(frozen=True)
class Prepared:
    """One statement as the driver runs it, with its parameters' names and conversions."""

    sql: str
    names: tuple[str, ...]
    positional: bool
    defaults: Mapping[str, Any]
    converters: Mapping[str, _Convert]
    results: tuple[_Convert | None, ...]

    @classmethod
    def compile(cls, statement: ClauseElement, dialect: Dialect) -> Prepared:
        """Compile ``statement`` for ``dialect``; its bind parameters are filled per call
        by name, or keep the value they were built with (``status == 'pending'``)."""
        compiled = statement.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)
        binds = compiled.binds
        expanding = sorted(name for name, bind in binds.items() if bind.expanding)
        if expanding or compiled.escaped_bind_names:
            # An IN list has as many markers as values, fixed only when it runs; and an
            # escaped name would not match the dictionary keys given here.
            raise ValueError(
                "cannot prepare a statement with parameters "
                f"{expanding or sorted(compiled.escaped_bind_names)}"
            )
        positional = compiled.positiontup is not None
        names = tuple(compiled.positiontup or ()) if positional else tuple(binds)
        converters: dict[str, _Convert] = {}
        for name in names:
            convert = binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            if convert is not None:
                converters[name] = convert
        results: tuple[_Convert | None, ...] = ()
        selected = getattr(statement, "selected_columns", None)
        if selected is not None:
            results = tuple(
                column.type.dialect_impl(dialect).result_processor(dialect, None)
                for column in selected
            )
        return cls(
            sql=compiled.string,
            names=names,
            positional=positional,
            defaults={
                name: binds[name].effective_value for name in names if not binds[name].required
            },
            converters=converters,
            results=results,
        )

    def parameters(self, values: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        """``values`` (by parameter name; a missing one takes the value it was built with)
        as the driver takes them."""
        converted = []
        for name, default, convert in self._plan:
            value = values.get(name, default)
            if value is _REQUIRED:
                raise KeyError(f"no value for parameter {name!r} of {self.sql!r}")
            if convert is not None and value is not None:
                value = convert(value)
            converted.append(value)
        if self.positional:
            return tuple(converted)
        return dict(zip(self.names, converted, strict=True))

    @cached_property
    def _plan(self) -> tuple[tuple[str, Any, _Convert | None], ...]:
        return tuple(
            (name, self.defaults.get(name, _REQUIRED), self.converters.get(name))
            for name in self.names
        )

    def execute_many(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run the statement once per row, in one driver ``executemany``."""
        if rows:
            conn.exec_driver_sql(self.sql, [self.parameters(row) for row in rows])

    def fetch(self, conn: Connection, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Run the query with ``values``; its rows, each column through its type's result
        conversion."""
        rows = conn.exec_driver_sql(self.sql, self.parameters(values)).fetchall()
        processors = [(i, f) for i, f in enumerate(self.results) if f is not None]
        if not processors:
            return [tuple(row) for row in rows]
        converted = []
        for row in rows:
            values_out = list(row)
            for index, convert in processors:
                if values_out[index] is not None:
                    values_out[index] = convert(values_out[index])
            converted.append(tuple(values_out))
        return converted


_CACHE: WeakKeyDictionary[Dialect, dict[str, Prepared]] = WeakKeyDictionary()


def prepared(conn: Connection, key: str, build: Callable[[Dialect], ClauseElement]) -> Prepared:
    """The statement ``build`` makes for ``conn``'s dialect, compiled on first use."""
    dialect = conn.dialect
    known = _CACHE.setdefault(dialect, {})
    statement = known.get(key)
    if statement is None:
        statement = known[key] = Prepared.compile(build(dialect), dialect)
    return statement
