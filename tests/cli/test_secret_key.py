"""``$ACADIO_WEBHOOKS_SECRET_KEY``: every command that opens a store seals and opens signing
secrets with its Fernet key(s); a missing, malformed or wrong key is one line naming the
variable, never a traceback and never a key."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from acadio_webhooks import DeliveryStatus, Dispatcher, EndpointPolicy
from acadio_webhooks.adapters.storage.secret_box import FernetSecretBox
from acadio_webhooks.adapters.storage.sql import SqlStore
from tests.cli.conftest import Run
from tests.loopback import loopback_receiver, wait_until

KEY_ENV = "ACADIO_WEBHOOKS_SECRET_KEY"
SECRET = "sealed-integration-secret-0123456789"
NEW_KEY = FernetSecretBox.new_key()
OLD_KEY = FernetSecretBox.new_key()
OTHER_KEY = FernetSecretBox.new_key()


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    monkeypatch.delenv("ACADIO_WEBHOOKS_DB", raising=False)
    monkeypatch.delenv(KEY_ENV, raising=False)
    return f"sqlite:///{tmp_path / 'webhooks.db'}"


def _stored_secrets(db: str) -> list[str]:
    engine = sa.create_engine(db)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT secrets FROM acadio_integrations")).scalars().all()
    engine.dispose()
    return list(rows)


def _create(run: Run, db: str) -> str:
    result = run(
        "integrations", "--db", db, "create", "--tenant", "t1", "--secret-env", "HOOK_SECRET",
        "--json",
    )  # fmt: skip
    assert result.code == 0, result.err
    return str(json.loads(result.out)["id"])


def _assert_one_clean_line(err: str) -> None:
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    for key in (NEW_KEY, OLD_KEY, OTHER_KEY, SECRET):
        assert key not in err


def test_commands_seal_and_open_secrets_with_the_key(
    run: Run, db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, NEW_KEY)
    integration_id = _create(run, db)

    [stored] = _stored_secrets(db)
    assert stored.startswith("sealed:")
    assert SECRET not in stored
    listed = run("integrations", "--db", db, "list", "--json")
    assert listed.code == 0, listed.err
    assert [entry["id"] for entry in json.loads(listed.out)] == [integration_id]
    assert run("deliveries", "--db", db, "list", "--json").code == 0


def test_a_rotation_opens_with_any_key_and_seals_with_the_first(
    run: Run, db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, OLD_KEY)
    old = _create(run, db)
    monkeypatch.setenv(KEY_ENV, f"{NEW_KEY}, {OLD_KEY}")
    new = _create(run, db)

    listed = run("integrations", "--db", db, "list", "--json")
    assert listed.code == 0, listed.err
    assert {entry["id"] for entry in json.loads(listed.out)} == {old, new}
    new_key_only = SqlStore(db, secret_box=FernetSecretBox(NEW_KEY))
    try:
        assert new_key_only.check_sealed_secrets() == {old: False, new: True}
    finally:
        new_key_only.close()


def test_sealed_secrets_without_the_key_are_refused(
    run: Run, db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, NEW_KEY)
    _create(run, db)
    monkeypatch.delenv(KEY_ENV)

    for argv in (
        ["integrations", "--db", db, "list"],
        ["deliveries", "--db", db, "list"],
        ["integrations", "--db", db, "create", "--tenant", "t2", "--secret-env", "HOOK_SECRET"],
    ):
        result = run(*argv)
        assert result.code == 2, result
        assert KEY_ENV in result.err
        _assert_one_clean_line(result.err)
    assert len(_stored_secrets(db)) == 1  # nothing was written in the clear beside them


def test_a_wrong_key_is_refused(run: Run, db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, NEW_KEY)
    _create(run, db)
    monkeypatch.setenv(KEY_ENV, OTHER_KEY)

    result = run("integrations", "--db", db, "list")

    assert result.code == 1
    assert f"{KEY_ENV} does not open the signing secrets" in result.err
    _assert_one_clean_line(result.err)


def test_a_key_that_opens_only_some_secrets_warns_and_goes_on(
    run: Run, db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, OLD_KEY)
    retired = _create(run, db)
    monkeypatch.setenv(KEY_ENV, f"{NEW_KEY},{OLD_KEY}")
    _create(run, db)
    monkeypatch.setenv(KEY_ENV, NEW_KEY)  # the old key dropped before the rotation finished

    result = run("deliveries", "--db", db, "list")

    assert result.code == 0
    assert retired in result.err
    assert "warning" in result.err
    _assert_one_clean_line(result.err)


MALFORMED = [
    ("not-a-fernet-key", "key 1 of 1 is not a Fernet key"),
    (f"{NEW_KEY},not-a-fernet-key", "key 2 of 2 is not a Fernet key"),
    ("", "holds an empty key"),
    (f"{NEW_KEY},,", "holds an empty key"),
]


@pytest.mark.parametrize(
    ("value", "message"), MALFORMED, ids=["bad", "second-bad", "empty", "trailing-commas"]
)
def test_a_malformed_key_is_a_usage_error_naming_the_variable(
    run: Run, db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    SqlStore(db).close()
    fresh = tmp_path / "fresh.db"  # the worker creates a missing database, but not on an error
    monkeypatch.setenv(KEY_ENV, value)

    for argv in (
        ["integrations", "--db", db, "list"],
        ["deliveries", "--db", db, "list"],
        ["worker", "--db", str(fresh)],
        ["demo", "--db", str(fresh)],
    ):
        result = run(*argv)
        assert result.code == 2, result
        assert message in result.err
        assert result.err.startswith(f"acadio-webhooks: error: {KEY_ENV}")
        assert "not-a-fernet-key" not in result.err
        _assert_one_clean_line(result.err)
    assert not fresh.exists()


def test_the_worker_refuses_a_wrong_key_before_starting(
    run: Run, db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, NEW_KEY)
    _create(run, db)
    monkeypatch.setenv(KEY_ENV, OTHER_KEY)

    result = run("worker", "--db", db)

    assert result.code == 1
    assert KEY_ENV in result.err
    _assert_one_clean_line(result.err)


@pytest.mark.skipif(os.name == "nt", reason="SIGTERM semantics are POSIX")
def test_the_worker_delivers_with_secrets_sealed_by_the_key(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    box = FernetSecretBox(NEW_KEY)
    with loopback_receiver(SECRET) as receiver:
        store = SqlStore(db, secret_box=box)
        with Dispatcher(store, endpoint_policy=EndpointPolicy(allow_insecure=True)) as dispatcher:
            integration = dispatcher.integrations.install("t1", secret=SECRET)
            dispatcher.integrations.subscribe(integration.id, "course/*", receiver.url())
            event_id = dispatcher.emit("course/completion/create", {"n": 1}, tenant="t1")
        environment = {**os.environ, KEY_ENV: NEW_KEY}
        process = subprocess.Popen(
            [
                sys.executable, "-m", "acadio_webhooks", "worker", "--db", db,
                "--allow-insecure-endpoints", "--poll-interval", "0.1",
            ],
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        try:
            wait_until(lambda: len(receiver.received) == 1, what="the worker's request")
        finally:
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr
        assert NEW_KEY not in stderr
        assert SECRET not in stderr
    [received] = receiver.received
    assert received.verified
    assert received.event_id == event_id
    with Dispatcher(SqlStore(db, secret_box=box)) as dispatcher:
        [delivery] = dispatcher.deliveries(event_id=event_id).items
        assert delivery.status is DeliveryStatus.DELIVERED
