"""``acadio-webhooks sign`` and ``verify``: debugging a receiver from a terminal."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from acadio_webhooks.domain.models import utcnow
from acadio_webhooks.domain.signing import encode_event_body, sign
from acadio_webhooks.domain.verification import verify
from tests.cli.conftest import Run

SECRET = "receiver-secret-0123456789"
EVENT_ID = "evt_0193f2c1a4b7e2c0f1d9a3b4c5d6e7f8"


@pytest.fixture
def body_file(tmp_path: Path) -> Path:
    path = tmp_path / "event.json"
    path.write_bytes(
        encode_event_body(EVENT_ID, "course/completion/create", utcnow(), "tenant-1", {"x": 1})
    )
    return path


@pytest.fixture(autouse=True)
def secret_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_SECRET", SECRET)


def _header_file(tmp_path: Path, headers: dict[str, str]) -> Path:
    path = tmp_path / "headers.txt"
    path.write_text("".join(f"{name}: {value}\n" for name, value in headers.items()))
    return path


def test_sign_prints_headers_that_verify(run: Run, body_file: Path) -> None:
    result = run("sign", "--secret-env", "HOOK_SECRET", "--body", str(body_file))
    assert result.code == 0
    headers = dict(line.split(": ", 1) for line in result.out.splitlines())
    event = verify(body_file.read_bytes(), headers, SECRET)
    assert event.id == EVENT_ID
    assert headers["X-Acadio-Topic"] == "course/completion/create"
    assert SECRET not in result.out + result.err


def test_sign_json_with_explicit_fields(run: Run, body_file: Path) -> None:
    result = run(
        "sign",
        "--secret", SECRET,
        "--body", str(body_file),
        "--timestamp", "1767225600",
        "--json",
    )  # fmt: skip
    assert result.code == 0
    headers = json.loads(result.out)["headers"]
    assert headers == sign(
        body_file.read_bytes(),
        SECRET,
        event_id=EVENT_ID,
        topic="course/completion/create",
        timestamp=1767225600,
    )
    assert SECRET not in result.out


def test_sign_needs_a_topic_when_the_body_has_none(run: Run, tmp_path: Path) -> None:
    body = tmp_path / "raw.json"
    body.write_text('{"id": "evt_1"}')
    result = run("sign", "--secret-env", "HOOK_SECRET", "--body", str(body))
    assert result.code == 2
    assert "pass --topic" in result.err
    ok = run("sign", "--secret-env", "HOOK_SECRET", "--body", str(body), "--topic", "a/b/c")
    assert ok.code == 0
    assert "webhook-id: evt_1" in ok.out


def test_missing_secret_variable_is_named_not_shown(run: Run, body_file: Path) -> None:
    result = run("sign", "--secret-env", "NO_SUCH_VARIABLE_X", "--body", str(body_file))
    assert result.code == 2
    assert "NO_SUCH_VARIABLE_X is not set" in result.err
    assert run("sign", "--body", str(body_file)).code == 2


def test_unreadable_body_is_a_usage_error(run: Run, tmp_path: Path) -> None:
    result = run("sign", "--secret-env", "HOOK_SECRET", "--body", str(tmp_path / "missing.json"))
    assert result.code == 2
    assert "cannot read body file" in result.err
    assert "Traceback" not in result.err


def test_verify_prints_the_decoded_event(run: Run, body_file: Path, tmp_path: Path) -> None:
    headers = sign(
        body_file.read_bytes(),
        SECRET,
        event_id=EVENT_ID,
        topic="course/completion/create",
        timestamp=int(time.time()),
    )
    result = run(
        "verify", "--secret-env", "HOOK_SECRET", "--body", str(body_file),
        "--headers-file", str(_header_file(tmp_path, headers)),
    )  # fmt: skip
    assert result.code == 0
    assert "valid" in result.out
    assert EVENT_ID in result.out
    assert "tenant-1" in result.out


def test_verify_json_and_header_options(run: Run, body_file: Path) -> None:
    headers = sign(
        body_file.read_bytes(),
        SECRET,
        event_id=EVENT_ID,
        topic="course/completion/create",
        timestamp=int(time.time()),
    )
    options = [arg for name, value in headers.items() for arg in ("--header", f"{name}: {value}")]
    result = run("verify", "--secret", SECRET, "--body", str(body_file), *options, "--json")
    assert result.code == 0
    report = json.loads(result.out)
    assert report["valid"] is True
    assert report["event"]["id"] == EVENT_ID
    assert report["event"]["data"] == {"x": 1}


def test_verify_with_the_wrong_secret_fails_with_the_reason(
    run: Run, body_file: Path, tmp_path: Path
) -> None:
    headers = sign(
        body_file.read_bytes(),
        "another-secret-0123456789",
        event_id=EVENT_ID,
        topic="course/completion/create",
        timestamp=int(time.time()),
    )
    header_file = str(_header_file(tmp_path, headers))
    base = ["verify", "--secret-env", "HOOK_SECRET", "--body", str(body_file)]
    result = run(*base, "--headers-file", header_file)
    assert result.code == 1
    assert "bad_signature" in result.out
    report = json.loads(run(*base, "--headers-file", header_file, "--json").out)
    assert report == {"valid": False, "reason": "bad_signature", "error": report["error"]}
    assert SECRET not in result.out + result.err


def test_verify_stale_request_and_tolerance(run: Run, body_file: Path, tmp_path: Path) -> None:
    an_hour_ago = int(time.time()) - 3600
    headers = sign(
        body_file.read_bytes(),
        SECRET,
        event_id=EVENT_ID,
        topic="course/completion/create",
        timestamp=an_hour_ago,
    )
    base = ["verify", "--secret-env", "HOOK_SECRET", "--body", str(body_file)]
    header_file = str(_header_file(tmp_path, headers))
    stale = json.loads(run(*base, "--headers-file", header_file, "--json").out)
    assert stale["reason"] == "stale"
    assert run(*base, "--headers-file", header_file, "--tolerance", "7200").code == 0


def test_verify_documented_header_alone_needs_the_flag(run: Run, body_file: Path) -> None:
    headers = sign(
        body_file.read_bytes(),
        SECRET,
        event_id=EVENT_ID,
        topic="course/completion/create",
        timestamp=0,
    )
    only_hmac = f"X-Acadio-Hmac-Sha256: {headers['X-Acadio-Hmac-Sha256']}"
    base = ["verify", "--secret-env", "HOOK_SECRET", "--body", str(body_file), "--header"]
    refused = json.loads(run(*base, only_hmac, "--json").out)
    assert refused["reason"] == "missing_header"
    assert run(*base, only_hmac, "--allow-untimestamped").code == 0


def test_verify_rejects_a_header_without_a_colon(run: Run, body_file: Path) -> None:
    base = ["verify", "--secret-env", "HOOK_SECRET", "--body", str(body_file)]
    result = run(*base, "--header", "webhook-id evt_1")
    assert result.code == 2
    assert "'Name: value'" in result.err
    assert run(*base).code == 2  # no headers at all
