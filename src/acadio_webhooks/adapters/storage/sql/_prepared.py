"""Hot statements compiled once per dialect and run with driver-ready parameters.

``Connection.execute`` builds, type-converts and checks a parameter dictionary for every row
it is given and a mapping for every row it returns (``construct_params``, the bind and
result processors); on the worker's claim and settle path that came to more CPU per delivery
than SQLite itself spent (docs/performance.md has the profile). A :class:`Prepared` statement
is compiled once; each row's parameters go through the columns' own bind processors (the
same conversions, only where a type has one) into the tuple or dictionary the driver's
parameter style wants, and results come back as plain tuples through the columns' result
processors.

A statement runs on a :data:`Target`: an SQLAlchemy ``Connection`` (``exec_driver_sql``, so
SQLAlchemy's transaction, events and error wrapping stay as they are), or the DB-API cursor
of a transaction the store runs on the driver itself (``_engine.driver_transaction``, the
emit path, where SQLAlchemy's own per-statement and per-transaction work cost more than the
database's).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from operator import itemgetter
from typing import Any, TypeAlias
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, DateTime, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.engine.interfaces import DBAPICursor
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

__all__ = ["Prepared", "Target", "prepared"]

Target: TypeAlias = "Connection | DBAPICursor"
"""Where a prepared statement runs: an SQLAlchemy connection or a driver's cursor."""

_Convert = Callable[[Any], Any]
_REQUIRED = object()


@dataclass(frozen=True)
class Prepared:
    """One statement as the driver runs it, with its parameters' names and conversions.

    An ``IN`` list (an expanding parameter) gets as many markers as it has values when the
    statement runs; its values are passed to the driver as they are given."""

    sql: str
    names: tuple[str, ...]
    positional: bool
    defaults: Mapping[str, Any]
    converters: Mapping[str, _Convert]
    results: tuple[_Convert | None, ...]
    expanding: SQLCompiler | None = None

    @classmethod
    def compile(cls, statement: ClauseElement, dialect: Dialect) -> Prepared:
        """Compile ``statement`` for ``dialect``; its bind parameters are filled per call
        by name, or keep the value they were built with (``status == 'pending'``)."""
        compiled = statement.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)
        binds = compiled.binds
        if compiled.escaped_bind_names:
            # An escaped name would not match the dictionary keys given here.
            raise ValueError(
                f"cannot prepare a statement with parameters {sorted(compiled.escaped_bind_names)}"
            )
        positional = compiled.positiontup is not None
        names = tuple(compiled.positiontup or ()) if positional else tuple(binds)
        converters: dict[str, _Convert] = {}
        # One memory per datetime type and dialect: an event's moment recurs across the
        # columns, and across the statements of an emit (event row, delivery rows).
        moments = _MOMENTS.setdefault(dialect, {})
        expanding = False
        for name in names:
            convert = binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            if binds[name].expanding:
                expanding = True
                if convert is not None:
                    # Its values would have to be converted one by one after expansion.
                    raise ValueError(
                        f"cannot prepare the IN list {name!r}: its type converts values"
                    )
            elif convert is not None:
                column_type = binds[name].type
                if _holds_datetimes(column_type):
                    memory = moments.setdefault(repr(column_type), {})
                    converters[name] = _remembering(convert, memory)
                else:
                    converters[name] = convert
        results: tuple[_Convert | None, ...] = tuple(
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in getattr(statement, "exported_columns", ())
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
            expanding=compiled if expanding else None,
        )

    def parameters(self, values: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        """``values`` (by parameter name; a missing one takes the value it was built with)
        as the driver takes them."""
        try:
            # Rows the stores build name every parameter: one C-level pick, then only the
            # few values whose type converts (an emit's batch runs this once per row).
            converted = list(self._pick(values))
        except KeyError:
            converted = self._with_defaults(values)
        for index, convert in self._conversions:
            value = converted[index]
            if value is not None:
                converted[index] = convert(value)
        if self.positional:
            return tuple(converted)
        return dict(zip(self.names, converted, strict=True))

    def _with_defaults(self, values: Mapping[str, Any]) -> list[Any]:
        found = []
        for name in self.names:
            value = values.get(name, self.defaults.get(name, _REQUIRED))
            if value is _REQUIRED:
                raise KeyError(f"no value for parameter {name!r} of {self.sql!r}")
            found.append(value)
        return found

    @cached_property
    def _pick(self) -> Callable[[Mapping[str, Any]], Sequence[Any]]:
        if not self.names:
            return lambda values: ()
        if len(self.names) == 1:
            [name] = self.names
            return lambda values: (values[name],)
        return itemgetter(*self.names)

    @cached_property
    def _conversions(self) -> tuple[tuple[int, _Convert], ...]:
        return tuple(
            (index, self.converters[name])
            for index, name in enumerate(self.names)
            if name in self.converters
        )

    def bound(self, values: Mapping[str, Any]) -> tuple[str, Sequence[Any] | Mapping[str, Any]]:
        """The SQL text and the driver's parameters for one run with ``values``."""
        if self.expanding is None:
            return self.sql, self.parameters(values)
        parameters = self.parameters(values)
        named = (
            parameters
            if isinstance(parameters, dict)
            else dict(zip(self.names, parameters, strict=True))
        )
        state = self.expanding.construct_expanded_state(named)
        if self.positional:
            return state.statement, state.positional_parameters
        return state.statement, state.parameters

    def execute(self, target: Target, values: Mapping[str, Any]) -> None:
        """Run the statement once with ``values``."""
        _run(target, *self.bound(values))

    def execute_many(self, target: Target, rows: Iterable[Mapping[str, Any]]) -> None:
        """Run the statement once per row, in one driver ``executemany``.

        On a driver's cursor the rows are converted one at a time as the driver takes them,
        so a batch of thousands never holds all its parameters at once: each row is garbage
        as soon as it is sent, and the garbage collector has that much less to walk.
        """
        if self.expanding is not None:
            raise ValueError("an IN list cannot run once per row")
        if isinstance(target, Connection):
            parameters: Any = [self.parameters(row) for row in rows]
            if parameters:
                target.exec_driver_sql(self.sql, parameters)
        else:
            # The DB-API asks for a sequence; sqlite3 and psycopg take any iterable.
            target.executemany(self.sql, map(self.parameters, rows))  # type: ignore[arg-type]

    def fetch(self, target: Target, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Run the query with ``values``; its rows, each column through its type's result
        conversion."""
        rows = _run(target, *self.bound(values)).fetchall()
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


def _holds_datetimes(column_type: Any) -> bool:
    if isinstance(column_type, TypeDecorator):
        column_type = column_type.impl_instance
    return isinstance(column_type, DateTime)


def _remembering(convert: _Convert, memory: dict[Any, Any]) -> _Convert:
    """``convert``, answering at once for the moments it converted lately.

    The rows of one event repeat one moment (an event's time is its deliveries' creation,
    update and due time, and ``emit_many`` inserts all events before their deliveries), and
    turning a datetime into what the database stores (to UTC, then to text on SQLite) cost
    more than a tenth of an emit. Equal aware datetimes are the same moment and hash alike,
    and convert to the same stored value (a naive one never equals an aware one, so it still
    reaches ``convert`` and its error). ``memory`` is shared by every statement of a dialect
    whose types convert alike, and emptied when full; a dictionary's single operations are
    atomic, so threads sharing it never see one moment's value for another.
    """

    def converted(value: Any) -> Any:
        try:
            return memory[value]
        except KeyError:
            pass
        result = convert(value)
        if len(memory) >= _MOMENTS_REMEMBERED:
            memory.clear()
        memory[value] = result
        return result

    return converted


def _run(target: Target, sql: str, parameters: Any) -> Any:
    """Execute on either kind of target; something with ``fetchall``."""
    if isinstance(target, Connection):
        return target.exec_driver_sql(sql, parameters)
    target.execute(sql, parameters)
    return target


_CACHE: WeakKeyDictionary[Dialect, dict[str, Prepared]] = WeakKeyDictionary()
_MOMENTS: WeakKeyDictionary[Dialect, dict[str, dict[Any, Any]]] = WeakKeyDictionary()
# Enough for the events and deliveries of one emit_many of 1,000 events; a few hundred KiB.
_MOMENTS_REMEMBERED = 2048


def prepared(dialect: Dialect, key: str, build: Callable[[Dialect], ClauseElement]) -> Prepared:
    """The statement ``build`` makes for ``dialect``, compiled on first use."""
    known = _CACHE.setdefault(dialect, {})
    statement = known.get(key)
    if statement is None:
        statement = known[key] = Prepared.compile(build(dialect), dialect)
    return statement
