"""The claim and settle statements the SQL store prepares once: the values they write and
read are the ones SQLAlchemy's own execute writes and reads, on every dialect."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects.postgresql import ARRAY

from acadio_webhooks.adapters.storage.sql import SqlStore, _prepared
from acadio_webhooks.adapters.storage.sql._dialect import among
from acadio_webhooks.adapters.storage.sql._prepared import _MOMENTS_REMEMBERED, Prepared, prepared
from acadio_webhooks.adapters.storage.sql.schema import UtcDateTime

_metadata = sa.MetaData()
_moments = sa.Table(
    "prepared_moments",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("at", UtcDateTime),
    sa.Column("flag", sa.Boolean, nullable=False),
    sa.Column("body", sa.LargeBinary),
)

# Microseconds of 0 on purpose: a driver's own datetime adapter writes "12:00:00" there, the
# column type "12:00:00.000000", and the two do not compare equal as text in SQLite.
_NOON = datetime(2026, 12, 5, 12, 0, tzinfo=timezone.utc)


def _insert(dialect: sa.Dialect) -> sa.Insert:
    return _moments.insert().values(
        id=sa.bindparam("b_id"),
        kind="moment",  # built in: every row gets it without naming it
        at=sa.bindparam("b_at", type_=UtcDateTime),
        flag=sa.bindparam("b_flag", type_=sa.Boolean),
        body=sa.bindparam("b_body", type_=sa.LargeBinary),
    )


def _since(dialect: sa.Dialect) -> sa.Select[tuple[int, datetime | None, bool, bytes | None]]:
    return (
        sa.select(_moments.c.id, _moments.c.at, _moments.c.flag, _moments.c.body)
        .where(_moments.c.at >= sa.bindparam("b_since", type_=UtcDateTime))
        .order_by(_moments.c.id)
    )


@pytest.fixture
def engine(store: SqlStore) -> Iterator[sa.Engine]:
    engine = store.engine
    _metadata.create_all(engine)
    yield engine
    _metadata.drop_all(engine)


def test_rows_written_prepared_read_back_as_the_store_writes_them(engine: sa.Engine) -> None:
    eastern = timezone(timedelta(hours=-5))
    with engine.begin() as conn:
        prepared(conn.dialect, "test insert", _insert).execute_many(
            conn,
            [
                {"b_id": 1, "b_at": _NOON, "b_flag": True, "b_body": b"\x00\xff"},
                {"b_id": 2, "b_at": _NOON.astimezone(eastern), "b_flag": False, "b_body": None},
                {"b_id": 3, "b_at": None, "b_flag": False, "b_body": b""},
            ],
        )
    with engine.connect() as conn:
        rows = conn.execute(sa.select(_moments).order_by(_moments.c.id)).all()
        # SQLAlchemy's own comparison with the same moment finds both timed rows.
        at_noon = conn.execute(sa.select(_moments.c.id).where(_moments.c.at == _NOON)).all()
    assert [tuple(row) for row in rows] == [
        (1, "moment", _NOON, True, b"\x00\xff"),
        (2, "moment", _NOON, False, None),
        (3, "moment", None, False, b""),
    ]
    assert [row.id for row in at_noon] == [1, 2]


def test_a_prepared_query_converts_its_parameters_and_its_results(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            _moments.insert().values(kind="k"),
            [
                {"id": 1, "at": _NOON - timedelta(seconds=1), "flag": True, "body": None},
                {"id": 2, "at": _NOON, "flag": True, "body": b"x"},
                {"id": 3, "at": _NOON + timedelta(microseconds=1), "flag": False, "body": None},
            ],
        )
    with engine.connect() as conn:
        found = prepared(conn.dialect, "test since", _since).fetch(conn, {"b_since": _NOON})
    assert found == [(2, _NOON, True, b"x"), (3, _NOON + timedelta(microseconds=1), False, None)]
    assert found[0][1].tzinfo == timezone.utc


def test_a_missing_parameter_is_named_and_nothing_is_written(engine: sa.Engine) -> None:
    statement = Prepared.compile(_insert(engine.dialect), engine.dialect)
    with pytest.raises(KeyError, match="'b_flag'"), engine.begin() as conn:
        statement.execute_many(
            conn,
            [
                {"b_id": 1, "b_at": _NOON, "b_flag": True, "b_body": None},
                {"b_id": 2, "b_at": _NOON, "b_body": None},
            ],
        )
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(_moments)).scalar() == 0


def test_an_in_list_gets_as_many_markers_as_values_each_run(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            _moments.insert().values(kind="k", flag=True), [{"id": n} for n in range(1, 6)]
        )
    ids = Prepared.compile(
        sa.select(_moments.c.id)
        .where(_moments.c.id.in_(sa.bindparam("ids", expanding=True)))
        .order_by(_moments.c.id),
        engine.dialect,
    )
    with engine.connect() as conn:
        assert ids.fetch(conn, {"ids": [2, 4, 9]}) == [(2,), (4,)]
        assert ids.fetch(conn, {"ids": [1, 2, 3, 5]}) == [(1,), (2,), (3,), (5,)]
        with pytest.raises(ValueError, match="IN list cannot run once per row"):
            ids.execute_many(conn, [{"ids": [1]}])


@pytest.mark.parametrize("layout_kept", [True, False], ids=["layout kept", "expanded each run"])
def test_an_in_list_beside_other_parameters_updates_exactly_its_rows_at_every_length(
    engine: sa.Engine, layout_kept: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The expanded text is kept per list length: a second list of the same length, an empty
    # one and a longer one must each reach their own rows with their own values. Without a
    # kept layout (one SQLAlchemy's expansion does not fit), every run expands it anew.
    if not layout_kept:
        monkeypatch.setattr(_prepared._Expansion, "read", classmethod(lambda cls, *_: None))
    with engine.begin() as conn:
        conn.execute(
            _moments.insert().values(kind="new", flag=False), [{"id": n} for n in range(1, 9)]
        )
    mark = Prepared.compile(
        _moments.update()
        .where(_moments.c.id.in_(sa.bindparam("ids", expanding=True)))
        .values(kind=sa.bindparam("b_kind"), flag=True, at=sa.bindparam("b_at", type_=UtcDateTime)),
        engine.dialect,
    )
    later = _NOON + timedelta(hours=1)
    runs = [([2, 4], "first", _NOON), ([6, 5], "second", later), ([], "none", _NOON)]
    runs.append(([1, 3, 7], "third", later))
    with engine.begin() as conn:
        for ids, kind, at in runs:
            mark.execute(conn, {"ids": ids, "b_kind": kind, "b_at": at})
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(_moments.c.id, _moments.c.kind, _moments.c.at, _moments.c.flag).order_by(
                _moments.c.id
            )
        ).all()
    assert [tuple(row) for row in rows] == [
        (1, "third", later, True),
        (2, "first", _NOON, True),
        (3, "third", later, True),
        (4, "first", _NOON, True),
        (5, "second", later, True),
        (6, "second", later, True),
        (7, "third", later, True),
        (8, "new", None, False),
    ]


def test_an_in_list_whose_values_need_converting_is_refused() -> None:
    moments = sa.select(_moments.c.id).where(
        _moments.c.at.in_(sa.bindparam("ats", type_=UtcDateTime, expanding=True))
    )
    with pytest.raises(ValueError, match="cannot prepare the IN list 'ats'"):
        Prepared.compile(moments, sa.create_engine("sqlite://").dialect)


def test_moments_repeated_across_rows_and_zones_are_each_written_as_given(
    engine: sa.Engine,
) -> None:
    # Converted moments are remembered between parameters: alternating, equal in another
    # zone, and naive ones must each still come out right.
    tokyo = timezone(timedelta(hours=9))
    later = _NOON + timedelta(microseconds=1)
    moments = [_NOON, later, _NOON.astimezone(tokyo), later, _NOON]
    statement = Prepared.compile(_insert(engine.dialect), engine.dialect)
    with engine.begin() as conn:
        statement.execute_many(conn, _moment_rows(moments))
        with pytest.raises(ValueError, match="timezone-aware"):
            statement.execute_many(conn, _moment_rows([_NOON.replace(tzinfo=None)], first_id=9))
    assert _stored_moments(engine) == moments


def test_more_moments_than_are_remembered_are_each_written_as_given(engine: sa.Engine) -> None:
    # The memory of converted moments empties itself when full; what comes after must still
    # be converted, and moments met again after that still written right.
    moments = [_NOON + timedelta(seconds=n) for n in range(_MOMENTS_REMEMBERED + 50)] + [_NOON]
    statement = Prepared.compile(_insert(engine.dialect), engine.dialect)
    with engine.begin() as conn:
        statement.execute_many(conn, _moment_rows(moments))
    assert _stored_moments(engine) == moments


def _moment_rows(moments: list[datetime], *, first_id: int = 0) -> list[dict[str, object]]:
    return [
        {"b_id": first_id + n, "b_at": at, "b_flag": True, "b_body": None}
        for n, at in enumerate(moments)
    ]


def _stored_moments(engine: sa.Engine) -> list[datetime | None]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(_moments.c.at).order_by(_moments.c.id)).scalars())


_OFFSETS = st.builds(
    timezone, st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23))
)


@given(
    moment=st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=_OFFSETS
    )
)
def test_sqlite_stores_a_moment_as_sqlalchemys_own_chain_writes_it(moment: datetime) -> None:
    # UtcDateTime writes SQLite's text in one step; rows written before it, and any query
    # SQLAlchemy binds itself, compare as text against that text, so it must be the same.
    sqlite = sa.create_engine("sqlite://").dialect
    stored = UtcDateTime().dialect_impl(sqlite).bind_processor(sqlite)
    naive_utc = moment.astimezone(timezone.utc).replace(tzinfo=None)
    sqlalchemys = sa.DateTime().dialect_impl(sqlite).bind_processor(sqlite)
    assert stored(moment) == sqlalchemys(naive_utc)
    assert stored(None) is None
    with pytest.raises(ValueError, match="timezone-aware"):
        stored(naive_utc)


# Strings that IN-list and array syntax each give a meaning to, and plain ones.
_KINDS = ["plain", 'quo"te', "{brace}", "com,ma", "back\\slash", "NULL", "«é»", "", "sp ace"]


def test_a_list_parameter_finds_exactly_its_strings_at_every_length(engine: sa.Engine) -> None:
    # An array on PostgreSQL (one statement for every length), an IN list elsewhere.
    with engine.begin() as conn:
        conn.execute(
            _moments.insert().values(flag=True),
            [{"id": n, "kind": kind} for n, kind in enumerate(_KINDS)]
            + [{"id": 100 + n, "kind": f"k{n}"} for n in range(60)],
        )
    found = Prepared.compile(
        sa.select(_moments.c.id)
        .where(among(_moments.c.kind, engine.dialect, "kinds"))
        .order_by(_moments.c.id),
        engine.dialect,
    )
    with engine.connect() as conn:
        assert found.fetch(conn, {"kinds": _KINDS}) == [(n,) for n in range(len(_KINDS))]
        assert found.fetch(conn, {"kinds": ['quo"te', "NULL", "absent"]}) == [(1,), (5,)]
        many = [f"k{n}" for n in range(60)]  # more than psycopg parses once and keeps
        assert found.fetch(conn, {"kinds": many}) == [(100 + n,) for n in range(60)]
        assert found.fetch(conn, {"kinds": ["absent"]}) == []


@pytest.mark.services
def test_postgresql_arrays_come_back_as_sent(postgres_url: str) -> None:
    # They travel in binary: text that array syntax gives a meaning to, moments in any zone,
    # missing values.
    store = SqlStore(postgres_url)
    try:
        dialect = store.engine.dialect
        floats = sa.bindparam("floats", type_=ARRAY(sa.Float()))
        texts = sa.bindparam("texts", type_=ARRAY(sa.String()))
        moments = sa.bindparam("moments", type_=ARRAY(UtcDateTime()))
        flags = sa.bindparam("flags", type_=ARRAY(sa.Boolean()))
        floats_read = sa.func.array_to_string(floats, ",", "-")
        echo = Prepared.compile(sa.select(floats_read, texts, moments, flags), dialect)
        assert "%(texts)b" in echo.sql
        eastern = timezone(timedelta(hours=-5))
        with store.engine.connect() as conn:
            [row] = echo.fetch(
                conn,
                {
                    "floats": [3.0, 2.5, None],
                    "texts": [*_KINDS, None],
                    "moments": [_NOON, _NOON.astimezone(eastern), None],
                    "flags": [True, None, False],
                },
            )
        assert row == ("3,2.5,-", [*_KINDS, None], [_NOON, _NOON, None], [True, None, False])
    finally:
        store.close()
