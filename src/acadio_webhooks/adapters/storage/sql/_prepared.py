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

from sqlalchemy import ARRAY, Connection, DateTime, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.engine.interfaces import DBAPICursor
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

__all__ = ["Prepared", "Target", "prepared"]

Target: TypeAlias = "Connection | DBAPICursor"
"""Where a prepared statement runs: an SQLAlchemy connection or a driver's cursor."""

_Convert = Callable[[Any], Any]


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
            sql=_arrays_in_binary(compiled.string, binds, dialect),
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
        converted = self._converted(values)
        if self.positional:
            return tuple(converted)
        return dict(zip(self.names, converted, strict=True))

    def _converted(self, values: Mapping[str, Any]) -> list[Any]:
        """Every parameter's value in ``names`` order, each through its type's conversion."""
        try:
            # One C-level merge and pick, then only the few values whose type converts (an
            # emit's batch runs this once per row). Values built into the statement (a
            # literal, a column set to NULL) are its defaults: rows never name them, and
            # catching a KeyError per row to fill them in cost more than the merge.
            converted = list(self._pick({**self.defaults, **values} if self.defaults else values))
        except KeyError:
            raise self._missing(values) from None
        for index, convert in self._conversions:
            value = converted[index]
            if value is not None:
                converted[index] = convert(value)
        return converted

    def _missing(self, values: Mapping[str, Any]) -> KeyError:
        """The error for ``values`` that lack a parameter the statement has no value for."""
        absent = [name for name in self.names if name not in values and name not in self.defaults]
        return KeyError(f"no value for parameter {absent[0] if absent else '?'!r} of {self.sql!r}")

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
        converted = self._converted(values)
        # The expanded text depends only on how long each IN list is: it is made once per
        # set of lengths and kept (SQLAlchemy's own expansion names every value of every list
        # again on every run, which cost more than a claim's or a settle's SQL on SQLite).
        lengths = tuple(len(converted[index]) for index in self._in_lists)
        try:
            expansion = self._expansions[lengths]
        except KeyError:
            # Threads share this statement: each works with its own reading, so another's
            # emptying of the dictionary in between cannot take it away.
            expansion = _Expansion.read(self, lengths)
            if len(self._expansions) >= _EXPANSIONS_KEPT:
                self._expansions.clear()
            self._expansions[lengths] = expansion
        if expansion is None:  # a layout not read: SQLAlchemy expands it on every run
            named = dict(zip(self.names, converted, strict=True))
            state = self.expanding.construct_expanded_state(named)
            if self.positional:
                return state.statement, state.positional_parameters
            return state.statement, state.parameters
        flat: list[Any] = []
        for index, spread in expansion.segments:
            if spread:
                flat.extend(converted[index])
            else:
                flat.append(converted[index])
        if expansion.keys is None:
            return expansion.sql, tuple(flat)
        return expansion.sql, dict(zip(expansion.keys, flat, strict=True))

    @cached_property
    def _in_lists(self) -> tuple[int, ...]:
        """Where the IN lists stand in ``names`` (first place of each)."""
        assert self.expanding is not None
        binds = self.expanding.binds
        return tuple(
            index
            for index, name in enumerate(self.names)
            if binds[name].expanding and self.names.index(name) == index
        )

    @cached_property
    def _expansions(self) -> dict[tuple[int, ...], _Expansion | None]:
        return {}

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


class _Slot:
    """Stands for one parameter value, or one value of an IN list, while
    :meth:`_Expansion.read` finds where the expansion puts each."""

    __slots__ = ("index", "position")

    def __init__(self, index: int, position: int | None) -> None:
        self.index = index
        self.position = position


@dataclass(frozen=True)
class _Expansion:
    """A statement's text for one set of IN-list lengths, and how the driver's parameters
    are laid out in it: ``segments`` are (index into the converted values, whether that
    value is an IN list spread out in its place); ``keys`` name them for a named style."""

    sql: str
    segments: tuple[tuple[int, bool], ...]
    keys: tuple[str, ...] | None

    @classmethod
    def read(cls, statement: Prepared, lengths: tuple[int, ...]) -> _Expansion | None:
        """Let SQLAlchemy expand ``statement`` once, with stand-ins for the values, and read
        where each one went; None when the expansion is not a plain layout of them."""
        assert statement.expanding is not None
        long = dict(zip(statement._in_lists, lengths, strict=True))
        stand_ins: dict[str, Any] = {}
        for index, name in enumerate(statement.names):
            if name not in stand_ins:
                stand_ins[name] = (
                    [_Slot(index, n) for n in range(long[index])]
                    if index in long
                    else _Slot(index, None)
                )
        state = statement.expanding.construct_expanded_state(stand_ins)
        placed: list[tuple[str | None, Any]] = (
            [(None, value) for value in state.positional_parameters]
            if statement.positional
            else list(state.parameters.items())
        )
        segments: list[tuple[int, bool]] = []
        for _key, slot in placed:
            if not isinstance(slot, _Slot):
                return None
            if slot.position is None:
                segments.append((slot.index, False))
            elif slot.position == 0:
                segments.append((slot.index, True))
        # The layout must give back exactly the order SQLAlchemy wrote: each IN list whole
        # and in order where its first value stands.
        rebuilt: list[Any] = []
        for index, spread in segments:
            value = stand_ins[statement.names[index]]
            if spread:
                rebuilt.extend(value)
            else:
                rebuilt.append(value)
        if rebuilt != [slot for _key, slot in placed]:
            return None
        keys = None if statement.positional else tuple(str(key) for key, _slot in placed)
        return cls(sql=state.statement, segments=tuple(segments), keys=keys)


def _arrays_in_binary(sql: str, binds: Mapping[str, Any], dialect: Dialect) -> str:
    """``sql`` with psycopg told to send its array parameters in binary (``%(name)b``).

    In text, psycopg quotes every element of an array after a regular-expression search: a
    settle's 100 attempts, nine arrays, cost 2.0 ms of CPU against 0.4 ms in binary (its C
    dumpers write each element). Either way an array holds one Python type (psycopg refuses
    ``[3, 2.5]``), as the store's arrays do.
    """
    if dialect.driver != "psycopg":
        return sql
    for name, bind in binds.items():
        if isinstance(bind.type, ARRAY):
            placeholder = f"%({name})s"
            if placeholder not in sql:
                raise ValueError(f"cannot find the array parameter {name!r} in {sql!r}")
            sql = sql.replace(placeholder, f"%({name})b")
    return sql


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
# IN-list lengths whose expanded text a statement keeps: claims and settles come in a few
# batch sizes, each up to the worker's batch_size.
_EXPANSIONS_KEPT = 256
# Enough for the events and deliveries of one emit_many of 1,000 events; a few hundred KiB.
_MOMENTS_REMEMBERED = 2048


def prepared(dialect: Dialect, key: str, build: Callable[[Dialect], ClauseElement]) -> Prepared:
    """The statement ``build`` makes for ``dialect``, compiled on first use."""
    known = _CACHE.setdefault(dialect, {})
    statement = known.get(key)
    if statement is None:
        statement = known[key] = Prepared.compile(build(dialect), dialect)
    return statement
