"""Property tests: verify() keeps its one promise about failures, whatever arrives."""

from __future__ import annotations

import base64
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from acadio_webhooks.domain.signing import Signer, encode_event_body
from acadio_webhooks.domain.verification import verify
from acadio_webhooks.errors import BadSignature, VerificationError

NOW = 1_767_225_600
HEADER_NAMES = [
    "X-Acadio-Hmac-Sha256",
    "X-Acadio-Topic",
    "webhook-id",
    "Webhook-Timestamp",
    "WEBHOOK-SIGNATURE",
    "content-type",
]

fuzz = settings(max_examples=300)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)
header_values: st.SearchStrategy[Any] = st.one_of(
    st.text(),
    st.text(alphabet="0123456789", min_size=1, max_size=30),
    st.binary(max_size=60),
    st.integers(),
    st.none(),
    st.lists(st.text(), max_size=2),
    st.builds(lambda raw: "v1," + base64.b64encode(raw).decode(), st.binary(max_size=40)),
    st.builds(lambda raw: "sha256=" + raw.hex(), st.binary(min_size=32, max_size=32)),
    st.just(str(NOW)),
)
header_names: st.SearchStrategy[Any] = st.one_of(
    st.sampled_from(HEADER_NAMES), st.text(max_size=20), st.binary(max_size=20), st.integers()
)
headers_strategy: st.SearchStrategy[Any] = st.one_of(
    st.dictionaries(header_names, header_values, max_size=8),
    st.lists(st.tuples(header_names, header_values), max_size=3),
    st.none(),
    st.text(max_size=10),
)
secrets_strategy: st.SearchStrategy[Any] = st.one_of(
    st.text(max_size=40),
    st.binary(max_size=40),
    st.lists(st.text(max_size=20) | st.binary(max_size=20), max_size=3),
    st.integers(),
    st.none(),
    st.lists(st.integers(), min_size=1, max_size=2),
)
bodies: st.SearchStrategy[Any] = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300),
    json_values.map(lambda value: repr(value).encode()),
    st.none(),
    st.integers(),
)


def verify_or_refuse(body: Any, headers: Any, secret: Any, **options: Any) -> None:
    try:
        verify(body, headers, secret, now=NOW, **options)
    except VerificationError:
        pass


@fuzz
@given(body=bodies, headers=headers_strategy, secret=secrets_strategy, flag=st.booleans())
def test_anything_at_all_is_accepted_or_refused_with_a_verification_error(
    body: Any, headers: Any, secret: Any, flag: bool
) -> None:
    verify_or_refuse(body, headers, secret, require_timestamp=flag)


@st.composite
def signed_requests(draw: st.DrawFn) -> tuple[bytes, dict[str, str], bytes]:
    secret = draw(st.binary(min_size=1, max_size=64))
    data = draw(st.dictionaries(st.text(), json_values, max_size=4))
    event_id = "evt_" + draw(st.text(alphabet="0123456789abcdef", min_size=1, max_size=32))
    body = encode_event_body(event_id, "course/completion/create", _created(), "acme", data)
    headers = Signer(secret).headers(
        body, event_id=event_id, topic="course/completion/create", timestamp=NOW
    )
    return body, headers, secret


def _created() -> Any:
    from datetime import datetime, timezone

    return datetime(2026, 1, 1, tzinfo=timezone.utc)


@fuzz
@given(request=signed_requests())
def test_every_signed_event_verifies_and_round_trips(
    request: tuple[bytes, dict[str, str], bytes],
) -> None:
    body, headers, secret = request

    event = verify(body, headers, secret, now=NOW)

    assert event.raw == body
    assert encode_event_body(event.id, event.topic, event.created_at, event.tenant, event.data) == (
        body
    )


@fuzz
@given(request=signed_requests(), data=st.data())
def test_any_single_byte_change_to_the_body_is_refused(
    request: tuple[bytes, dict[str, str], bytes], data: st.DataObject
) -> None:
    body, headers, secret = request
    position = data.draw(st.integers(0, len(body) - 1))
    flip = data.draw(st.integers(1, 255))
    tampered = body[:position] + bytes([body[position] ^ flip]) + body[position + 1 :]

    try:
        verify(tampered, headers, secret, now=NOW)
    except BadSignature:
        return
    raise AssertionError("a tampered body was accepted")


@fuzz
@given(
    request=signed_requests(),
    name=st.sampled_from(HEADER_NAMES[:5]),
    value=header_values,
    flag=st.booleans(),
)
def test_a_signed_request_with_one_header_replaced_never_escapes_the_family(
    request: tuple[bytes, dict[str, str], bytes], name: str, value: Any, flag: bool
) -> None:
    body, headers, secret = request
    replaced = {key: val for key, val in headers.items() if key.lower() != name.lower()}
    replaced[name] = value

    verify_or_refuse(body, replaced, secret, require_timestamp=flag)
