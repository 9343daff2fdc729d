"""``acadio-webhooks integrations``: install, subscribe, list and deactivate on SQLite."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from acadio_webhooks import Dispatcher, EndpointPolicy
from tests.cli.conftest import Run

SECRET = "integration-secret-0123456789"


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    monkeypatch.delenv("ACADIO_WEBHOOKS_DB", raising=False)
    return f"sqlite:///{tmp_path / 'webhooks.db'}"


def _create(run: Run, db: str | None, *extra: str) -> str:
    where = ["--db", db] if db else []
    result = run(
        "integrations", *where, "create", "--tenant", "tenant-1",
        "--secret-env", "HOOK_SECRET", "--json", *extra,
    )  # fmt: skip
    assert result.code == 0, result.err
    assert SECRET not in result.out
    created = json.loads(result.out)
    assert created["tenant"] == "tenant-1"
    assert created["secrets"] == 1
    return str(created["id"])


def test_create_installs_with_the_secret_from_the_environment(run: Run, db: str) -> None:
    integration_id = _create(run, db, "--email", "ops@example.com")
    with Dispatcher(db) as dispatcher:
        integration = dispatcher.integrations.get(integration_id)
    assert integration.notification_email == "ops@example.com"
    assert integration.secrets[0].value.get_secret_value() == SECRET


def test_create_plain_output_does_not_show_the_secret(run: Run, db: str) -> None:
    result = run(
        "integrations", "--db", db, "create", "--tenant", "t", "--secret-env", "HOOK_SECRET"
    )
    assert result.code == 0
    assert "installed int_" in result.out
    assert SECRET not in result.out + result.err


def test_create_refuses_a_short_secret_without_echoing_it(
    run: Run, db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHORT_SECRET", "tiny-secret")
    result = run(
        "integrations", "--db", db, "create", "--tenant", "t", "--secret-env", "SHORT_SECRET"
    )
    assert result.code == 2
    assert "secret" in result.err
    assert "tiny-secret" not in result.err


def test_create_needs_the_variable_to_be_set(run: Run, db: str) -> None:
    result = run("integrations", "--db", db, "create", "--tenant", "t", "--secret-env", "UNSET_X")
    assert result.code == 2
    assert "UNSET_X is not set" in result.err


def test_db_comes_from_the_environment(run: Run, db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run("integrations", "list").code == 2
    monkeypatch.setenv("ACADIO_WEBHOOKS_DB", db)
    integration_id = _create(run, None)
    listed = json.loads(run("integrations", "list", "--json").out)
    assert [entry["id"] for entry in listed] == [integration_id]


def test_no_database_is_a_usage_error(run: Run) -> None:
    result = run("integrations", "list")
    assert result.code == 2
    assert "ACADIO_WEBHOOKS_DB" in result.err


def test_missing_database_file_is_not_created(run: Run, tmp_path: Path) -> None:
    missing = tmp_path / "typo.db"
    result = run("integrations", "--db", str(missing), "list")
    assert result.code == 2
    assert "does not exist" in result.err
    assert not missing.exists()


def test_subscribe_and_list(run: Run, db: str) -> None:
    integration_id = _create(run, db)
    result = run(
        "integrations", "subscribe", "--db", db, integration_id, "course/*",
        "http://127.0.0.1:9/hooks", "--allow-insecure-endpoints", "--json",
    )  # fmt: skip
    assert result.code == 0, result.err
    subscribed = json.loads(result.out)
    assert subscribed["pattern"] == "course/*"
    assert "course/completion/create" in subscribed["topics"]
    listed = json.loads(
        run("integrations", "--db", db, "list", "--tenant", "tenant-1", "--json").out
    )
    assert listed[0]["subscriptions"][0]["id"] == subscribed["id"]
    assert "secret" not in json.dumps(listed).replace('"secrets"', "")
    table = run("integrations", "--db", db, "list")
    assert integration_id in table.out
    assert "course/*" in table.out
    assert (
        json.loads(run("integrations", "--db", db, "list", "--tenant", "other", "--json").out) == []
    )


def test_subscribe_refuses_insecure_endpoints_by_default(run: Run, db: str) -> None:
    integration_id = _create(run, db)
    result = run(
        "integrations", "--db", db, "subscribe", integration_id, "course/*", "http://127.0.0.1:9/"
    )
    assert result.code == 2
    assert "refused" in result.err
    assert "Traceback" not in result.err


def test_subscribe_typo_guard_and_future_topics(run: Run, db: str) -> None:
    integration_id = _create(run, db)
    base = ["integrations", "--db", db, "subscribe", integration_id]
    url = ["http://127.0.0.1:9/", "--allow-insecure-endpoints"]
    typo = run(*base, "cource/*", *url)
    assert typo.code == 2
    assert "matches no known topic" in typo.err
    assert run(*base, "cource/*", *url, "--allow-future-topics").code == 0
    bad = run(*base, "course/**", *url)
    assert bad.code == 2
    assert "position" in bad.err


def test_subscribe_reads_header_values_from_the_environment_and_never_shows_them(
    run: Run, db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "Bearer cli-canary-5e6f"
    monkeypatch.setenv("HOOK_AUTH", token)
    integration_id = _create(run, db)
    base = ["integrations", "--db", db, "subscribe", integration_id, "course/*"]
    url = ["http://127.0.0.1:9/", "--allow-insecure-endpoints"]
    made = run(*base, *url, "--header-env", "Authorization=HOOK_AUTH", "--json")
    plain = run("integrations", "--db", db, "list")
    listed = run("integrations", "--db", db, "list", "--json")
    unset = run(*base, *url, "--header-env", "Authorization=NO_SUCH_VAR_X")
    malformed = run(*base, *url, "--header-env", "Authorization")
    reserved = run(*base, *url, "--header-env", "Host=HOOK_AUTH")

    assert made.code == 0, made.err
    assert json.loads(made.out)["header_names"] == ["Authorization"]
    assert "headers: Authorization" in plain.out
    assert json.loads(listed.out)[0]["subscriptions"][0]["header_names"] == ["Authorization"]
    assert (unset.code, malformed.code, reserved.code) == (2, 2, 2)
    assert "NO_SUCH_VAR_X is not set" in unset.err
    assert "use NAME=VAR" in malformed.err
    assert "headers.Host" in reserved.err
    for result in (made, plain, listed, unset, malformed, reserved):
        assert token not in result.out + result.err
    with Dispatcher(db) as dispatcher:
        [subscription] = dispatcher.integrations.subscriptions(integration_id)
    assert subscription.headers == {"Authorization": token}


def test_a_rate_limit_is_set_shown_changed_and_lifted(run: Run, db: str) -> None:
    integration_id = _create(run, db)
    base = ["integrations", "--db", db, "subscribe", integration_id, "course/*"]
    url = ["http://127.0.0.1:9/", "--allow-insecure-endpoints"]
    made = run(*base, *url, "--rate-limit", "5", "--json")
    too_fast = run(*base, *url, "--rate-limit", "20000")
    not_a_number = run(*base, *url, "--rate-limit", "fast")
    subscription_id = json.loads(made.out)["id"]
    plain = run("integrations", "--db", db, "list")
    changed = run("integrations", "--db", db, "rate-limit", subscription_id, "0.5")
    listed = run("integrations", "--db", db, "list", "--json")
    lifted = run("integrations", "--db", db, "rate-limit", subscription_id, "none", "--json")
    unknown = run("integrations", "--db", db, "rate-limit", "sub_nope", "1")

    assert made.code == 0, made.err
    assert json.loads(made.out)["rate_limit"] == 5.0
    assert (too_fast.code, not_a_number.code) == (2, 2)
    assert "between 0.01 and 10,000" in too_fast.err
    assert "'fast': must be a number" in not_a_number.err
    assert "at most 5/s" in plain.out
    assert changed.code == 0, changed.err
    assert "at most 0.5 deliveries a second" in changed.out
    assert json.loads(listed.out)[0]["subscriptions"][0]["rate_limit"] == 0.5
    assert json.loads(lifted.out)["rate_limit"] is None
    assert unknown.code == 1
    assert "not found" in unknown.err
    with Dispatcher(db) as dispatcher:
        [subscription] = dispatcher.integrations.subscriptions(integration_id)
    assert subscription.rate_limit is None


def test_subscribe_to_an_unknown_integration_fails(run: Run, db: str) -> None:
    _create(run, db)
    result = run(
        "integrations", "--db", db, "subscribe", "int_nope", "course/*", "http://127.0.0.1:9/",
        "--allow-insecure-endpoints",
    )  # fmt: skip
    assert result.code == 1
    assert "not found" in result.err


def test_deactivate_cancels_pending_deliveries(run: Run, db: str) -> None:
    integration_id = _create(run, db)
    with Dispatcher(db, endpoint_policy=EndpointPolicy(allow_insecure=True)) as dispatcher:
        dispatcher.integrations.subscribe(integration_id, "course/*", "http://127.0.0.1:9/")
        dispatcher.emit("course/completion/create", {"course_id": 1}, tenant="tenant-1")
    result = run("integrations", "--db", db, "deactivate", integration_id, "--json")
    assert result.code == 0
    assert json.loads(result.out) == {"id": integration_id, "active": False}
    with Dispatcher(db) as dispatcher:
        assert [d.status.value for d in dispatcher.deliveries().items] == ["cancelled"]
    plain = run("integrations", "--db", db, "deactivate", integration_id)
    assert "deactivated" in plain.out


def test_unsupported_database_url_is_a_usage_error(run: Run) -> None:
    result = run("integrations", "--db", "oracle://lms@127.0.0.1/lms", "list")
    assert result.code == 2
    assert "cannot use database oracle://lms@127.0.0.1/lms: unsupported database" in result.err


def test_unreachable_database_fails_without_showing_its_password(run: Run) -> None:
    result = run("integrations", "--db", "postgresql://lms:hunter2-pw@127.0.0.1:1/lms", "list")
    assert result.code == 1
    assert "cannot open database postgresql://lms:***@127.0.0.1:1/lms" in result.err
    assert "hunter2-pw" not in result.err
    assert "Traceback" not in result.err


def test_list_reports_a_stored_row_that_no_longer_validates(run: Run, db: str) -> None:
    integration_id = _create(run, db)
    engine = sa.create_engine(db)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE acadio_integrations SET notification_email = 'leaky-value'"))
    engine.dispose()

    result = run("integrations", "--db", db, "list")

    assert result.code == 1
    assert result.err.count("\n") == 1  # one line, no traceback
    assert integration_id in result.err
    assert "notification_email" in result.err
    assert "leaky-value" not in result.err
