"""The sending side of the wire format: what a receiver gets, byte for byte."""

from __future__ import annotations

import base64
import copy
import doctest
import hashlib
import hmac
import json
import pickle
import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from acadio_webhooks import AcadioWebhooksError, VerificationError, __version__
from acadio_webhooks.domain import signing
from acadio_webhooks.domain.signing import Signer, encode_event_body, sign
from acadio_webhooks.errors import InvalidPayload, SigningError

SECRET = "correct-horse-battery-staple"
OLD_SECRET = "tr0ub4dor&3-tr0ub4dor&3"
BODY = b'{"id":"evt_1","topic":"course/completion/create","data":{}}'
TIMESTAMP = 1_767_225_600
CREATED = datetime(2026, 3, 3, 9, 30, tzinfo=timezone.utc)


def b64_hmac(key: bytes, message: bytes) -> str:
    return base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()


def headers_for(secrets: str | list[str], body: bytes = BODY, **overrides: Any) -> dict[str, str]:
    options: dict[str, Any] = {
        "event_id": "evt_1",
        "topic": "course/completion/create",
        "timestamp": TIMESTAMP,
        **overrides,
    }
    return Signer(secrets).headers(body, **options)


def test_headers_are_exactly_the_wire_format() -> None:
    headers = headers_for(SECRET)

    assert headers == {
        "Content-Type": "application/json",
        "User-Agent": f"acadio-webhooks/{__version__}",
        "X-Acadio-Topic": "course/completion/create",
        "X-Acadio-Hmac-Sha256": b64_hmac(SECRET.encode(), BODY),
        "webhook-id": "evt_1",
        "webhook-timestamp": str(TIMESTAMP),
        "webhook-signature": "v1,"
        + b64_hmac(SECRET.encode(), f"evt_1.{TIMESTAMP}.".encode() + BODY),
    }


def test_documented_header_is_base64_of_hmac_sha256_over_the_raw_body() -> None:
    body = json.dumps({"id": "evt_9", "data": {"name": "Zoë"}}, ensure_ascii=False).encode()

    headers = headers_for(SECRET, body)

    expected = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest())
    assert headers["X-Acadio-Hmac-Sha256"] == expected.decode()


@pytest.mark.parametrize(
    "key_for_library",
    [
        pytest.param(base64.b64encode(SECRET.encode()).decode(), id="base64-of-secret"),
        pytest.param("whsec_" + base64.b64encode(SECRET.encode()).decode(), id="whsec-prefixed"),
        pytest.param(SECRET.encode(), id="raw-key-bytes"),
    ],
)
def test_standard_webhooks_library_verifies_our_headers(key_for_library: str | bytes) -> None:
    # The library checks the timestamp against its own clock, so sign "now".
    timestamp = int(datetime.now(timezone.utc).timestamp())
    headers = headers_for(SECRET, timestamp=timestamp)

    assert Webhook(key_for_library).verify(BODY, headers) == json.loads(BODY)


def test_standard_webhooks_library_rejects_another_secret() -> None:
    timestamp = int(datetime.now(timezone.utc).timestamp())
    headers = headers_for(SECRET, timestamp=timestamp)

    with pytest.raises(WebhookVerificationError):
        Webhook(base64.b64encode(b"some-other-secret").decode()).verify(BODY, headers)


@pytest.mark.parametrize("receiver_secret", [SECRET, OLD_SECRET])
def test_rotation_lets_a_receiver_with_either_secret_verify(receiver_secret: str) -> None:
    timestamp = int(datetime.now(timezone.utc).timestamp())
    headers = headers_for([SECRET, OLD_SECRET], timestamp=timestamp)

    receiver = Webhook(base64.b64encode(receiver_secret.encode()).decode())

    assert receiver.verify(BODY, headers) == json.loads(BODY)


def test_rotation_signs_once_per_secret_newest_first_and_documented_header_with_newest() -> None:
    headers = headers_for([SECRET, OLD_SECRET])

    signed = f"evt_1.{TIMESTAMP}.".encode() + BODY
    assert headers["webhook-signature"].split(" ") == [
        "v1," + b64_hmac(SECRET.encode(), signed),
        "v1," + b64_hmac(OLD_SECRET.encode(), signed),
    ]
    assert headers["X-Acadio-Hmac-Sha256"] == b64_hmac(SECRET.encode(), BODY)


def test_text_secret_signs_with_its_utf8_bytes() -> None:
    secret = "clé-secrète-ünïcode"

    assert headers_for(secret) == Signer(secret.encode("utf-8")).headers(
        BODY, event_id="evt_1", topic="course/completion/create", timestamp=TIMESTAMP
    )


def test_sign_function_equals_signer_headers() -> None:
    assert sign(
        BODY, SECRET, event_id="evt_1", topic="course/completion/create", timestamp=TIMESTAMP
    ) == headers_for(SECRET)


def test_signer_is_immutable_and_never_shows_its_secrets() -> None:
    signer = Signer([SECRET, OLD_SECRET])

    with pytest.raises(AttributeError):
        signer._keys = (b"x",)
    with pytest.raises(AttributeError):
        del signer._keys
    assert repr(signer) == "Signer(<2 secrets>)"
    assert repr(Signer(SECRET)) == "Signer(<1 secret>)"
    assert SECRET not in repr(signer) + str(signer)
    assert signer.keys == (SECRET.encode(), OLD_SECRET.encode())


def test_signer_equality_copy_and_pickle_keep_the_secrets() -> None:
    signer = Signer([SECRET, OLD_SECRET])

    assert copy.copy(signer) == signer
    assert pickle.loads(pickle.dumps(signer)) == signer
    assert signer != Signer([OLD_SECRET, SECRET])
    assert signer != Signer(SECRET)
    assert signer != SECRET
    with pytest.raises(TypeError):
        hash(signer)


@pytest.mark.parametrize(
    "secrets",
    [
        pytest.param("", id="empty-text"),
        pytest.param(b"", id="empty-bytes"),
        pytest.param([], id="no-secret"),
        pytest.param([SECRET, ""], id="one-empty-in-list"),
        pytest.param(42, id="int"),
        pytest.param(None, id="none"),
        pytest.param([SECRET, 7], id="int-in-list"),
        pytest.param("\ud800", id="lone-surrogate"),
    ],
)
def test_unusable_secrets_are_a_signing_error(secrets: object) -> None:
    with pytest.raises(SigningError) as caught:
        Signer(secrets)  # type: ignore[arg-type]

    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, AcadioWebhooksError)
    assert not isinstance(caught.value, VerificationError)
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("event_id", ""),
        ("event_id", "evt 1"),
        ("event_id", "evt_1\r\nX-Injected: yes"),
        ("event_id", "évt_1"),
        ("topic", "course/completion/create\n"),
        ("topic", 7),
        ("timestamp", -1),
        ("timestamp", 1.5),
        ("timestamp", True),
        ("timestamp", "1767225600"),
    ],
)
def test_values_that_cannot_be_headers_are_refused(field: str, value: Any) -> None:
    with pytest.raises(SigningError, match=field):
        headers_for(SECRET, **{field: value})


def test_event_body_is_compact_utf8_json_in_wire_order() -> None:
    body = encode_event_body(
        "evt_1", "course/completion/create", CREATED, "acme", {"learner": "Zoë", "score": 0.5}
    )

    assert (
        body
        == (
            '{"id":"evt_1","topic":"course/completion/create",'
            '"created_at":"2026-03-03T09:30:00.000000Z","tenant":"acme",'
            '"data":{"learner":"Zoë","score":0.5}}'
        ).encode()
    )


_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_categories=["Cs"])),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=8,
)
_wire_text = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=12)


@given(
    event_id=_wire_text,
    topic=_wire_text,
    tenant=_wire_text,
    moment=st.datetimes(timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=-3))])),
    data=st.dictionaries(st.text(max_size=6), _json_values, max_size=4),
)
def test_event_body_is_the_envelope_as_one_json_object(
    event_id: str, topic: str, tenant: str, moment: datetime, data: dict[str, Any]
) -> None:
    # Quotes, backslashes, control characters and non-ASCII text in every field: the body
    # is byte for byte what json.dumps writes for the envelope, and reads back as it.
    envelope = {
        "id": event_id,
        "topic": topic,
        "created_at": moment.astimezone(timezone.utc)
        .replace(tzinfo=None)
        .isoformat(timespec="microseconds")
        + "Z",
        "tenant": tenant,
        "data": data,
    }
    expected = json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()
    assert encode_event_body(event_id, topic, moment, tenant, data) == expected


def test_event_body_time_is_converted_to_utc_with_z() -> None:
    paris = timezone(timedelta(hours=1))
    moment = datetime(2026, 3, 3, 10, 30, 0, 123456, tzinfo=paris)

    body = json.loads(encode_event_body("evt_1", "a/b/c", moment, "acme", {}))

    assert body["created_at"] == "2026-03-03T09:30:00.123456Z"


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        pytest.param({"data": {"x": float("nan")}}, "JSON", id="nan"),
        pytest.param({"data": {"x": float("inf")}}, "JSON", id="infinity"),
        pytest.param({"data": {"when": CREATED}}, "JSON", id="datetime-value"),
        pytest.param({"data": {"x": "\udc80"}}, "JSON", id="lone-surrogate"),
        pytest.param({"data": [1, 2]}, "mapping", id="array-data"),
        pytest.param({"created_at": datetime(2026, 3, 3)}, "timezone-aware", id="naive-time"),
        pytest.param({"tenant": ""}, "tenant", id="empty-tenant"),
        pytest.param({"event_id": 12}, "event_id", id="int-id"),
    ],
)
def test_event_body_refuses_what_json_or_the_wire_cannot_carry(
    arguments: dict[str, object], problem: str
) -> None:
    values: dict[str, object] = {
        "event_id": "evt_1",
        "topic": "course/completion/create",
        "created_at": CREATED,
        "tenant": "acme",
        "data": {},
        **arguments,
    }

    with pytest.raises(InvalidPayload, match=problem):
        encode_event_body(**values)  # type: ignore[arg-type]


def test_event_body_refuses_circular_data() -> None:
    data: dict[str, object] = {}
    data["self"] = data

    with pytest.raises(InvalidPayload):
        encode_event_body("evt_1", "a/b/c", CREATED, "acme", data)


def test_module_examples_hold() -> None:
    results = doctest.testmod(signing)

    assert results.attempted > 0
    assert results.failed == 0


def _is_visible_ascii(value: str) -> bool:
    return re.fullmatch(r"[\x21-\x7e]+", value) is not None


def test_header_values_are_exactly_visible_ascii_character_by_character() -> None:
    # Every character of the first 2048 code points, and a lone surrogate, inside an id.
    for code in [*range(0x800), 0xD800]:
        value = f"evt{chr(code)}1"
        try:
            sign(b"{}", SECRET, event_id=value, topic="a/b/c", timestamp=1)
        except SigningError:
            assert not _is_visible_ascii(value), code
        else:
            assert _is_visible_ascii(value), code


@given(st.text(max_size=8))
def test_header_values_are_exactly_visible_ascii(value: str) -> None:
    try:
        sign(b"{}", SECRET, event_id="evt_1", topic=value, timestamp=1)
    except SigningError:
        assert not _is_visible_ascii(value)
    else:
        assert _is_visible_ascii(value)
