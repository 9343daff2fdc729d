"""The memory store's per-attempt delivery update is ``model_copy(update=...)``, only cheaper."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from acadio_webhooks.adapters.storage.memory._base import _updated
from acadio_webhooks.domain.models import Delivery, DeliveryStatus

CREATED = datetime(2026, 3, 3, 12, 0, tzinfo=timezone.utc)

_changes = st.fixed_dictionaries(
    {},
    optional={
        "status": st.sampled_from(DeliveryStatus),
        "attempts": st.integers(0, 9),
        "next_attempt_at": st.one_of(st.none(), st.just(CREATED + timedelta(seconds=30))),
        "last_status_code": st.one_of(st.none(), st.integers(100, 599)),
        "last_error": st.one_of(st.none(), st.text(max_size=5)),
        "updated_at": st.just(CREATED + timedelta(seconds=1)),
    },
)


@given(_changes, st.booleans())
def test_updated_is_model_copy_with_update(changes: dict[str, Any], with_defaults: bool) -> None:
    optional: dict[str, Any] = {} if with_defaults else {"attempts": 2, "last_error": "boom"}
    delivery = Delivery(
        event_id="evt_1",
        subscription_id="sub_1",
        integration_id="int_1",
        tenant="t1",
        topic="course/completion/create",
        created_at=CREATED,
        updated_at=CREATED,
        **optional,
    )
    fast, reference = _updated(delivery, changes), delivery.model_copy(update=changes)
    assert fast == reference
    assert fast.model_dump() == reference.model_dump()
    assert fast.model_fields_set == reference.model_fields_set
    assert fast.__pydantic_extra__ is None
    assert fast.__pydantic_private__ is None
    assert hash(fast) == hash(reference)
