"""docs/storage.md's transactional-outbox example runs and means what it says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from acadio_webhooks.errors import NotFound

PAGE = Path(__file__).resolve().parents[2] / "docs" / "storage.md"


def _outbox_example() -> str:
    found = re.search(r"<!-- outbox-example.*?-->\n```python\n(.*?)```", PAGE.read_text(), re.S)
    assert found, "docs/storage.md lost its outbox example"
    return found.group(1)


def test_the_outbox_example_keeps_only_the_committed_event(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    scope: dict[str, object] = {}
    exec(compile(_outbox_example(), str(PAGE), "exec"), scope)

    store = scope["dispatcher"].store  # type: ignore[attr-defined]
    assert store.get_event(scope["kept"]).topic == "course/completion/create"
    with pytest.raises(NotFound):
        store.get_event(scope["lost"])
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'lms.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT student FROM grades").scalars().all() == [7]
    engine.dispose()
    store.close()
    scope["engine"].dispose()  # type: ignore[attr-defined]
