"""verify(): what a receiver accepts, what it refuses, and why."""

from __future__ import annotations

import hashlib
import hmac
import subprocess
import sys
import threading
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone

import pytest
from django.http.request import HttpHeaders
from starlette.datastructures import Headers as StarletteHeaders
from werkzeug.datastructures import EnvironHeaders

from acadio_webhooks.domain.replay import MemoryReplayGuard, ReplayGuard
from acadio_webhooks.domain.signing import encode_event_body
from acadio_webhooks.domain.verification import ReceivedEvent, verify
from acadio_webhooks.errors import (
    BadSignature,
    FutureTimestamp,
    InvalidSecret,
    MalformedBody,
    MalformedHeader,
    MissingHeader,
    ReplayedMessage,
    StaleTimestamp,
    VerificationError,
)
from acadio_webhooks.testing import sign_headers

SECRET = "correct-horse-battery-staple"
OLD_SECRET = "tr0ub4dor&3-tr0ub4dor&3"
NOW = 1_767_225_600  # 2026-01-01T00:00:00Z
CREATED = datetime(2025, 12, 31, 23, 59, 30, tzinfo=timezone.utc)
TOPIC = "course/completion/create"
DATA = {"learner": "Zoë", "course_id": 7, "passed": True}


def event_body(event_id: str = "evt_1", **data: object) -> bytes:
    return encode_event_body(event_id, TOPIC, CREATED, "acme", data or DATA)


BODY = event_body()


def signed(
    body: bytes = BODY, secret: str | list[str] = SECRET, *, timestamp: int = NOW, **options: str
) -> dict[str, str]:
    return sign_headers(body, secret, timestamp=timestamp, **options)


HEADERS = signed()


def documented_only(headers: dict[str, str]) -> dict[str, str]:
    return {"X-Acadio-Hmac-Sha256": headers["X-Acadio-Hmac-Sha256"]}


def refused(
    expected: type[VerificationError],
    body: object = BODY,
    headers: object = HEADERS,
    secret: object = SECRET,
    **options: object,
) -> VerificationError:
    options.setdefault("now", NOW)
    with pytest.raises(expected) as caught:
        verify(body, headers, secret, **options)  # type: ignore[arg-type]
    assert type(caught.value) is expected
    return caught.value


# --- accepting --------------------------------------------------------------------------------


def test_a_correctly_signed_delivery_gives_back_the_event() -> None:
    event = verify(BODY, HEADERS, SECRET, now=NOW)

    assert event == ReceivedEvent(
        id="evt_1", topic=TOPIC, created_at=CREATED, tenant="acme", data=DATA, raw=BODY
    )
    assert event.created_at.tzinfo is timezone.utc


def wsgi_environ(headers: dict[str, str]) -> dict[str, str]:
    environ = {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}
    environ["CONTENT_TYPE"] = headers["Content-Type"]
    return environ


@pytest.mark.parametrize(
    "make_headers",
    [
        pytest.param(lambda h: h, id="dict"),
        pytest.param(lambda h: {k.lower(): v for k, v in h.items()}, id="lowercase-dict"),
        pytest.param(lambda h: {k.upper(): v for k, v in h.items()}, id="uppercase-dict"),
        pytest.param(lambda h: EnvironHeaders(wsgi_environ(h)), id="flask-werkzeug"),
        pytest.param(lambda h: HttpHeaders(wsgi_environ(h)), id="django"),
        pytest.param(lambda h: StarletteHeaders(headers=h), id="starlette"),
        pytest.param(
            lambda h: {k.lower().encode(): v.encode() for k, v in h.items()}, id="raw-bytes"
        ),
    ],
)
def test_headers_are_found_in_any_framework_mapping_and_any_case(make_headers: object) -> None:
    headers = make_headers(HEADERS)  # type: ignore[operator]

    assert verify(BODY, headers, SECRET, now=NOW).id == "evt_1"


@pytest.mark.parametrize(
    "body",
    [BODY.decode("utf-8"), bytearray(BODY), memoryview(BODY)],
    ids=["str", "bytearray", "memoryview"],
)
def test_body_may_be_text_or_any_bytes_like(body: object) -> None:
    assert verify(body, HEADERS, SECRET, now=NOW).raw == BODY  # type: ignore[arg-type]


def test_extra_body_keys_are_ignored_for_forward_compatibility() -> None:
    body = BODY[:-1] + b',"schema":2}'

    assert verify(body, signed(body), SECRET, now=NOW).data == DATA


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("2026-03-03T10:30:00+01:00", datetime(2026, 3, 3, 9, 30, tzinfo=timezone.utc)),
        ("2026-03-03t09:30:00.5z", datetime(2026, 3, 3, 9, 30, 0, 500000, tzinfo=timezone.utc)),
        ("2026-03-03T04:00:00.1234567-05:30", datetime(2026, 3, 3, 9, 30, 0, 123456, timezone.utc)),
    ],
)
def test_created_at_accepts_rfc3339_offsets_and_fractions(written: str, expected: datetime) -> None:
    body = BODY.replace(b"2025-12-31T23:59:30.000000Z", written.encode())

    assert verify(body, signed(body), SECRET, now=NOW).created_at == expected


# --- secrets and rotation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "receiver_secrets",
    [SECRET, SECRET.encode(), [OLD_SECRET, SECRET], (SECRET.encode(), OLD_SECRET)],
    ids=["text", "bytes", "list-second-matches", "tuple-mixed"],
)
def test_any_one_matching_secret_is_enough(receiver_secrets: object) -> None:
    assert verify(BODY, HEADERS, receiver_secrets, now=NOW).id == "evt_1"  # type: ignore[arg-type]


@pytest.mark.parametrize("receiver_secret", [SECRET, OLD_SECRET])
def test_during_rotation_a_receiver_holding_either_secret_verifies(receiver_secret: str) -> None:
    # X-Acadio-Hmac-Sha256 carries only the newest secret: it must not be what decides.
    headers = signed(secret=[SECRET, OLD_SECRET])

    assert verify(BODY, headers, receiver_secret, now=NOW).id == "evt_1"


def test_a_secret_nobody_signed_with_is_a_bad_signature() -> None:
    refused(BadSignature, headers=signed(secret=[SECRET, OLD_SECRET]), secret="another-secret")


@pytest.mark.parametrize(
    "secret",
    ["", b"", [], [SECRET, ""], 42, None, [SECRET, 3], {SECRET: 1}.values(), "\udc80"],
    ids=["empty", "empty-bytes", "none-given", "one-empty", "int", "None", "int-in-list",
         "dict-values-int", "lone-surrogate"],
)  # fmt: skip
def test_an_unusable_receiver_secret_is_invalid_secret(secret: object) -> None:
    error = refused(InvalidSecret, secret=secret)

    assert error.reason == "bad_secret"


# --- every failure reason ---------------------------------------------------------------------


def without(*names: str, headers: dict[str, str] = HEADERS) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k not in names}


@pytest.mark.parametrize(
    ("headers", "require_timestamp"),
    [
        pytest.param({}, True, id="nothing"),
        pytest.param(without("webhook-id"), True, id="no-id"),
        pytest.param(without("webhook-timestamp"), True, id="no-timestamp"),
        pytest.param(without("webhook-signature"), True, id="no-signature"),
        pytest.param(without("webhook-timestamp"), False, id="partial-standard-headers"),
        pytest.param({"Content-Type": "application/json"}, False, id="nothing-documented"),
    ],
)
def test_missing_headers(headers: dict[str, str], require_timestamp: bool) -> None:
    error = refused(MissingHeader, headers=headers, require_timestamp=require_timestamp)

    assert error.reason == "missing_header"


def test_documented_header_alone_is_refused_by_default_with_a_pointer_to_the_flag() -> None:
    error = refused(MissingHeader, headers=documented_only(HEADERS))

    assert "require_timestamp=False" in str(error)


class ExplodingHeaders:
    def items(self) -> Iterable[tuple[str, str]]:
        raise RuntimeError("socket closed")


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({**HEADERS, "webhook-timestamp": "soon"}, id="timestamp-word"),
        pytest.param({**HEADERS, "webhook-timestamp": "-1767225600"}, id="timestamp-negative"),
        pytest.param({**HEADERS, "webhook-timestamp": "1767225600.0"}, id="timestamp-float"),
        pytest.param({**HEADERS, "webhook-timestamp": "9" * 400}, id="timestamp-huge"),
        pytest.param({**HEADERS, "webhook-timestamp": "١٧٦٧٢٢٥٦٠٠"}, id="timestamp-arabic-digits"),
        pytest.param({**HEADERS, "webhook-signature": "garbage"}, id="signature-no-comma"),
        pytest.param({**HEADERS, "webhook-signature": "v1,!!notbase64!!"}, id="signature-garbage"),
        pytest.param({**HEADERS, "webhook-signature": "v1,AAAA"}, id="signature-short"),
        pytest.param({**HEADERS, "webhook-signature": "v1a,AAAA"}, id="signature-only-v1a"),
        pytest.param({**HEADERS, "webhook-id": "évt_1"}, id="non-ascii"),
        pytest.param({**HEADERS, "webhook-id": "  "}, id="empty-value"),
        pytest.param({**HEADERS, "webhook-id": 17}, id="int-value"),
        pytest.param({**HEADERS, "webhook-id": None}, id="none-value"),
        pytest.param({**HEADERS, "X-Acadio-Topic": "course/completion/update"}, id="topic-lies"),
        pytest.param(
            StarletteHeaders(
                raw=[(k.lower().encode(), v.encode()) for k, v in HEADERS.items()]
                + [(b"webhook-id", b"evt_2")]
            ),
            id="repeated-with-different-values",
        ),
        pytest.param([("webhook-id", "evt_1")], id="not-a-mapping"),
        pytest.param(ExplodingHeaders(), id="unreadable"),
    ],
)
def test_malformed_headers(headers: object) -> None:
    error = refused(MalformedHeader, headers=headers)

    assert error.reason == "malformed_header"


@pytest.mark.parametrize(
    "request_parts",
    [
        pytest.param((BODY.replace(b"acme", b"evil"), HEADERS), id="body-tampered"),
        pytest.param((BODY + b" ", HEADERS), id="body-appended"),
        pytest.param((BODY, {**HEADERS, "webhook-timestamp": str(NOW + 1)}), id="time-moved"),
        pytest.param((BODY, {**HEADERS, "webhook-id": "evt_2"}), id="id-swapped"),
        pytest.param((BODY, signed(secret="not-the-secret")), id="wrong-secret"),
        pytest.param(
            (BODY, {**HEADERS, "webhook-signature": "v1," + "A" * 43 + "="}), id="zero-signature"
        ),
    ],
)
def test_bad_signatures(request_parts: tuple[bytes, dict[str, str]]) -> None:
    body, headers = request_parts

    error = refused(BadSignature, body=body, headers=headers)

    assert error.reason == "bad_signature"


def test_one_matching_entry_among_unknown_versions_and_junk_is_enough() -> None:
    junk = "v1a,c29tZS1lZDI1NTE5 v2,xyz v1,!!! " + HEADERS["webhook-signature"]

    assert verify(BODY, {**HEADERS, "webhook-signature": junk}, SECRET, now=NOW).id == "evt_1"


@pytest.mark.parametrize(
    ("age", "tolerance", "expected"),
    [
        (300, 300, None),
        (301, 300, StaleTimestamp),
        (-300, 300, None),
        (-301, 300, FutureTimestamp),
        (3599, timedelta(hours=1), None),
        (3601, timedelta(hours=1), StaleTimestamp),
        (-3601, 3600.0, FutureTimestamp),
        (1, 0, StaleTimestamp),
    ],
)
def test_tolerance_window(
    age: int, tolerance: float | timedelta, expected: type[VerificationError] | None
) -> None:
    headers = signed(timestamp=NOW - age)

    if expected is None:
        assert verify(BODY, headers, SECRET, now=NOW, tolerance=tolerance).id == "evt_1"
    else:
        refused(expected, headers=headers, tolerance=tolerance)


def test_signature_is_checked_before_the_timestamp() -> None:
    # A stale *forgery* is reported as a forgery: stale/future only describe authentic requests.
    headers = {**signed(timestamp=NOW - 3600), "webhook-id": "evt_forged"}

    refused(BadSignature, headers=headers)


def test_injected_clock_in_every_form() -> None:
    moment = datetime.fromtimestamp(NOW, timezone.utc)
    for now in (NOW, float(NOW), moment, lambda: NOW, lambda: moment):
        assert verify(BODY, HEADERS, SECRET, now=now).id == "evt_1"

    refused(StaleTimestamp, now=lambda: NOW + 301)


def test_default_clock_is_the_system_clock() -> None:
    refused(StaleTimestamp, now=None)  # HEADERS were signed on 2026-01-01, long before this run
    fresh = signed(timestamp=int(datetime.now(timezone.utc).timestamp()))
    assert verify(BODY, fresh, SECRET).id == "evt_1"


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"tolerance": -1}, ValueError),
        ({"tolerance": float("nan")}, ValueError),
        ({"tolerance": "300"}, TypeError),
        ({"now": datetime(2026, 1, 1)}, ValueError),
        ({"now": lambda: "now"}, TypeError),
    ],
)
def test_programming_errors_in_the_options_are_not_verification_errors(
    options: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error) as caught:
        verify(BODY, HEADERS, SECRET, **options)  # type: ignore[arg-type]

    assert not isinstance(caught.value, VerificationError)


def signed_body(body: bytes, event_id: str = "evt_1") -> dict[str, object]:
    return {"body": body, "headers": signed(body, event_id=event_id, topic=TOPIC)}


@pytest.mark.parametrize(
    "request_parts",
    [
        pytest.param(signed_body(b"not json"), id="not-json"),
        pytest.param(signed_body(b"\xff\xfe{}"), id="not-utf8"),
        pytest.param(signed_body(b"[1, 2]"), id="array"),
        pytest.param(signed_body(b'{"id": "evt_1"}'), id="missing-fields"),
        pytest.param(signed_body(BODY.replace(b'"data"', b'"payload"')), id="no-data"),
        pytest.param(signed_body(BODY.replace(b'"data":{', b'"data":[{').replace(b"}}", b"}]}")),
                     id="data-array"),
        pytest.param(signed_body(BODY.replace(b'"tenant":"acme"', b'"tenant":7')), id="int-tenant"),
        pytest.param(signed_body(BODY.replace(b"2025-12-31", b"2025-13-31")), id="bad-month"),
        pytest.param(signed_body(BODY.replace(b"T23:59:30.000000Z", b"")), id="date-only"),
        pytest.param(signed_body(BODY.replace(b"Z", b"+24:00")), id="bad-offset"),
        pytest.param(signed_body(BODY.replace(b"2025-12-31T23", b"0001-01-01T00").replace(
            b"Z", b"+01:00")), id="before-year-one-in-utc"),
        pytest.param(signed_body(BODY.replace(b'"passed":true', b'"passed":NaN')), id="nan"),
        pytest.param(signed_body(BODY.replace(b"7", b"7" * 5000)), id="huge-number"),
        pytest.param(signed_body(b"[" * 100_000 + b"]" * 100_000), id="deep-nesting"),
        pytest.param(signed_body(BODY, event_id="evt_other"), id="id-differs-from-webhook-id"),
    ],
)  # fmt: skip
def test_malformed_bodies_are_reported_after_the_signature_checks_out(
    request_parts: dict[str, object],
) -> None:
    error = refused(MalformedBody, **request_parts)

    assert error.reason == "bad_body"


@pytest.mark.parametrize("body", [None, 42, ["a"], {"id": "evt_1"}, "\udc80"])
def test_a_body_that_is_not_bytes_or_text_is_malformed(body: object) -> None:
    refused(MalformedBody, body=body)


# --- replay guard -----------------------------------------------------------------------------


def fake_clock(start: float = NOW) -> list[float]:
    return [start]


def test_the_same_message_twice_is_a_replay() -> None:
    guard = MemoryReplayGuard(clock=lambda: NOW)
    verify(BODY, HEADERS, SECRET, now=NOW, replay_guard=guard)

    error = refused(ReplayedMessage, replay_guard=guard)

    assert error.reason == "replayed"


def test_a_retry_of_the_same_event_is_not_a_replay() -> None:
    # Our worker retries with the same webhook-id and a new timestamp: if the receiver's
    # handler failed the first time, the retry must get through.
    guard = MemoryReplayGuard(clock=lambda: NOW)
    verify(BODY, HEADERS, SECRET, now=NOW, replay_guard=guard)

    retry = signed(timestamp=NOW + 35)

    assert verify(BODY, retry, SECRET, now=NOW + 35, replay_guard=guard).id == "evt_1"


def test_rejected_requests_do_not_burn_message_ids() -> None:
    guard = MemoryReplayGuard(clock=lambda: NOW)
    forged_body = BODY.replace(b"acme", b"evil")
    refused(BadSignature, body=forged_body, replay_guard=guard)  # same id and timestamp
    refused(StaleTimestamp, headers=signed(timestamp=NOW - 900), replay_guard=guard)
    refused(MalformedHeader, headers={**HEADERS, "X-Acadio-Topic": "x/y/z"}, replay_guard=guard)

    assert len(guard) == 0
    assert verify(BODY, HEADERS, SECRET, now=NOW, replay_guard=guard).id == "evt_1"


def test_without_timestamps_the_guard_remembers_the_event_id() -> None:
    guard = MemoryReplayGuard(ttl=86_400, clock=lambda: NOW)
    headers = documented_only(HEADERS)
    verify(BODY, headers, SECRET, require_timestamp=False, now=NOW, replay_guard=guard)

    refused(ReplayedMessage, headers=headers, require_timestamp=False, replay_guard=guard)


def test_memory_guard_forgets_keys_after_they_expire() -> None:
    clock = fake_clock()
    guard = MemoryReplayGuard(clock=lambda: clock[0])

    assert guard.seen("a", NOW + 10) is False
    assert guard.seen("a", NOW + 10) is True
    clock[0] = NOW + 10
    assert guard.seen("a", NOW + 20) is False
    assert len(guard) == 1


def test_memory_guard_ttl_is_a_minimum_retention() -> None:
    clock = fake_clock()
    guard = MemoryReplayGuard(ttl=60, clock=lambda: clock[0])
    guard.seen("a", NOW + 1)

    clock[0] = NOW + 59
    assert guard.seen("a", NOW + 1) is True


def test_memory_guard_does_not_store_keys_expired_on_arrival() -> None:
    guard = MemoryReplayGuard(clock=lambda: NOW)

    assert guard.seen("old", NOW - 1) is False
    assert len(guard) == 0


def test_memory_guard_is_bounded_and_forgets_the_soonest_to_expire_first() -> None:
    guard = MemoryReplayGuard(max_entries=3, clock=lambda: NOW)
    for key, expiry in (("late", NOW + 300), ("soon", NOW + 100), ("mid", NOW + 200)):
        guard.seen(key, expiry)

    guard.seen("new", NOW + 300)

    assert len(guard) == 3
    assert guard.seen("late", NOW + 300) is True
    assert guard.seen("mid", NOW + 200) is True
    assert guard.seen("soon", NOW + 100) is False  # forgotten, so recorded again now


def test_memory_guard_records_each_key_once_across_threads() -> None:
    guard = MemoryReplayGuard()
    start = threading.Barrier(8)
    answers: list[bool] = []

    def deliver() -> None:
        start.wait()
        answers.append(guard.seen("evt_1.1", float("inf")))

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(answers) == [False] + [True] * 7


def test_memory_guard_is_a_replay_guard_and_checks_its_options() -> None:
    assert isinstance(MemoryReplayGuard(), ReplayGuard)
    assert "max_entries=100000" in repr(MemoryReplayGuard())
    with pytest.raises(ValueError, match="ttl"):
        MemoryReplayGuard(ttl=-1)
    with pytest.raises(ValueError, match="max_entries"):
        MemoryReplayGuard(max_entries=0)


# --- the documented header alone (require_timestamp=False) -----------------------------------


def digest(key: str = SECRET, body: bytes = BODY) -> bytes:
    return hmac.new(key.encode(), body, hashlib.sha256).digest()


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(HEADERS["X-Acadio-Hmac-Sha256"], id="base64"),
        pytest.param(digest().hex(), id="hex"),
        pytest.param(digest().hex().upper(), id="upper-hex"),
        pytest.param("sha256=" + digest().hex(), id="sha256-prefixed-hex"),
        pytest.param("SHA256=" + digest().hex(), id="upper-prefix"),
    ],
)
def test_documented_header_alone_in_any_accepted_encoding(header: str) -> None:
    headers = {"x-acadio-hmac-sha256": header}

    event = verify(BODY, headers, SECRET, require_timestamp=False, now=NOW)

    assert event.id == "evt_1"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param("sha256=" + HEADERS["X-Acadio-Hmac-Sha256"], MalformedHeader, id="prefix-b64"),
        pytest.param(digest().hex()[:-2], MalformedHeader, id="short-hex"),
        pytest.param("ab " * 32, MalformedHeader, id="spaced-hex"),
        pytest.param("md5=" + digest().hex(), MalformedHeader, id="other-prefix"),
        pytest.param(digest(key="other").hex(), BadSignature, id="other-secret"),
        pytest.param(digest(body=b"{}").hex(), BadSignature, id="other-body"),
    ],
)
def test_documented_header_refusals(header: str, expected: type[VerificationError]) -> None:
    refused(expected, headers={"X-Acadio-Hmac-Sha256": header}, require_timestamp=False)


def test_standard_headers_are_still_checked_when_the_timestamp_is_optional() -> None:
    stale = signed(timestamp=NOW - 3600)
    refused(StaleTimestamp, headers=stale, require_timestamp=False)

    tampered = {**HEADERS, "webhook-id": "evt_2"}
    refused(BadSignature, headers=tampered, require_timestamp=False)

    assert verify(BODY, HEADERS, SECRET, require_timestamp=False, now=NOW).id == "evt_1"


# --- no secret leaks, cheap import -----------------------------------------------------------


def failures() -> Iterable[VerificationError]:
    attempts: list[dict[str, object]] = [
        {"headers": signed(secret="wrong")},
        {"headers": documented_only(signed(secret="wrong")), "require_timestamp": False},
        {"headers": {**HEADERS, "webhook-signature": "v1," + SECRET}},
        {"headers": {**HEADERS, "webhook-signature": SECRET}},
        {"headers": {"X-Acadio-Hmac-Sha256": SECRET}, "require_timestamp": False},
        {"secret": [SECRET, ""]},
        {"secret": [SECRET, 7]},
        {"now": NOW + 10_000},
    ]
    for attempt in attempts:
        options = {"body": BODY, "headers": HEADERS, "secret": SECRET, "now": NOW, **attempt}
        try:
            verify(**options)  # type: ignore[arg-type]
        except VerificationError as error:
            yield error
        else:  # pragma: no cover - every attempt above must fail
            pytest.fail(f"{attempt} was accepted")


def test_no_message_or_repr_shows_the_secret_or_a_signature() -> None:
    signatures = [HEADERS["X-Acadio-Hmac-Sha256"], HEADERS["webhook-signature"].split(",")[1]]
    for error in failures():
        shown = str(error) + repr(error) + repr(error.__cause__) + repr(error.__context__)
        for leak in [SECRET, SECRET.encode().hex(), *signatures]:
            assert leak not in shown, (type(error).__name__, shown)


def test_importing_verification_loads_no_http_client_database_driver_or_pydantic() -> None:
    code = (
        "import acadio_webhooks.domain.verification, sys;"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'httpx', 'sqlalchemy', 'psycopg', 'aiohttp', 'pydantic', 'tenacity', 'alembic'});"
        "assert not heavy, heavy"
    )

    subprocess.run([sys.executable, "-c", code], check=True)
