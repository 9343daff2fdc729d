"""The registry role's contract (integrations, subscriptions, routing), run against every
store: what the admin flow and the dispatcher's routing rely on.
"""

from __future__ import annotations

import pytest

from acadio_webhooks.domain.models import DeliveryStatus, SigningSecret, Subscription
from acadio_webhooks.errors import NotFound, StorageError
from acadio_webhooks.ports.storage import Route, Store
from tests.contract.builders import (
    SECRET,
    at,
    claim,
    enqueue_one,
    integration,
    subscription,
)


def test_integration_round_trips_with_its_secrets(store: Store) -> None:
    rotated = SigningSecret(value="x" * 40, created_at=at(5), expires_at=at(3600))
    made = integration(secrets=(SigningSecret(value=SECRET, created_at=at(0)), rotated))
    store.add_integration(made)
    loaded = store.get_integration(made.id)
    assert loaded == made
    assert [s.value.get_secret_value() for s in loaded.secrets] == [SECRET, "x" * 40]


def test_adding_an_existing_integration_id_fails(store: Store) -> None:
    made = integration()
    store.add_integration(made)
    with pytest.raises(StorageError) as raised:
        store.add_integration(made)
    assert SECRET not in str(raised.value)


def test_update_integration_replaces_it(store: Store) -> None:
    made = integration()
    store.add_integration(made)
    changed = made.model_copy(update={"active": False, "notification_email": None})
    store.update_integration(changed)
    assert store.get_integration(made.id) == changed


def test_unknown_ids_raise_not_found(store: Store) -> None:
    cases = [
        ("integration", lambda: store.get_integration("int_nope")),
        ("integration", lambda: store.update_integration(integration(id="int_nope"))),
        ("subscription", lambda: store.get_subscription("sub_nope")),
        ("subscription", lambda: store.delete_subscription("sub_nope")),
        ("event", lambda: store.get_event("evt_nope")),
        ("delivery", lambda: store.get_delivery("dlv_nope")),
        ("delivery", lambda: store.list_attempts("dlv_nope")),
        ("delivery", lambda: store.resend("dlv_nope", now=at(0))),
        ("integration", lambda: store.resend_failed("int_nope", since=at(0), now=at(0))),
    ]
    for kind, call in cases:
        with pytest.raises(NotFound) as raised:
            call()
        assert raised.value.kind == kind


def test_subscription_needs_an_existing_integration(store: Store) -> None:
    orphan = subscription(integration())
    with pytest.raises(NotFound):
        store.add_subscription(orphan)
    with pytest.raises(NotFound):
        store.get_subscription(orphan.id)


def test_update_unknown_subscription_raises_not_found(store: Store, sub: Subscription) -> None:
    stranger = subscription(store.get_integration(sub.integration_id))
    with pytest.raises(NotFound):
        store.update_subscription(stranger)


def test_list_integrations_by_tenant_oldest_first(store: Store) -> None:
    late = integration("acme", created=20)
    early = integration("acme", created=10)
    other = integration("globex", created=5)
    for made in (late, early, other):
        store.add_integration(made)
    assert [i.id for i in store.list_integrations("acme")] == [early.id, late.id]
    assert [i.id for i in store.list_integrations()] == [other.id, early.id, late.id]
    assert store.list_integrations("nobody") == []


def test_subscriptions_crud(store: Store) -> None:
    owner = integration()
    store.add_integration(owner)
    second = subscription(owner, "*/*/create", created=9)
    first = subscription(owner, "course/*", created=1)
    store.add_subscription(second)
    store.add_subscription(first)
    assert store.list_subscriptions(owner.id) == [first, second]

    moved = first.model_copy(update={"endpoint": "https://other.example.com/hook"})
    store.update_subscription(moved)
    assert store.get_subscription(first.id) == moved

    store.delete_subscription(second.id)
    assert store.list_subscriptions(owner.id) == [moved]
    with pytest.raises(NotFound):
        store.get_subscription(second.id)


def test_deleting_a_subscription_cancels_only_its_pending_deliveries(
    store: Store, sub: Subscription
) -> None:
    other = subscription(store.get_integration(sub.integration_id), "*")
    store.add_subscription(other)
    doomed = enqueue_one(store, sub)
    kept = enqueue_one(store, other)
    store.delete_subscription(sub.id)
    assert store.get_delivery(doomed.id).status is DeliveryStatus.CANCELLED
    assert store.get_delivery(kept.id).status is DeliveryStatus.PENDING
    assert [item.delivery_id for item in claim(store, 1)] == [kept.id]


def test_routes_are_active_subscriptions_of_active_integrations(store: Store) -> None:
    live = integration("acme", created=1)
    dead = integration("acme", created=2, active=False)
    foreign = integration("globex", created=3)
    for made in (live, dead, foreign):
        store.add_integration(made)
    on = subscription(live, "course/*", created=1)
    off = subscription(live, "*", created=2, active=False)
    under_dead = subscription(dead, "*", created=3)
    elsewhere = subscription(foreign, "*", created=4)
    for made_sub in (on, off, under_dead, elsewhere):
        store.add_subscription(made_sub)

    snapshot = store.routes("acme")
    assert snapshot.routes == (Route(on.id, live.id, "course/*"),)
    assert snapshot.revision == store.routing_revision()
    assert store.routes("nobody").routes == ()


def test_routing_revision_moves_on_every_admin_change(store: Store) -> None:
    seen = [store.routing_revision()]

    def moved() -> bool:
        seen.append(store.routing_revision())
        return seen[-1] != seen[-2]

    owner = integration()
    store.add_integration(owner)
    assert moved()
    store.update_integration(owner.model_copy(update={"active": False}))
    assert moved()
    made = subscription(owner)
    store.add_subscription(made)
    assert moved()
    store.update_subscription(made.model_copy(update={"pattern": "*"}))
    assert moved()
    store.delete_subscription(made.id)
    assert moved()
    assert not moved()  # reading alone does not move it
    assert store.routes(owner.tenant).revision == seen[-1]


def test_cancel_pending_by_integration_or_subscription(store: Store, sub: Subscription) -> None:
    owner = store.get_integration(sub.integration_id)
    other = subscription(owner, "*")
    store.add_subscription(other)
    a = enqueue_one(store, sub)
    b = enqueue_one(store, other)
    c = enqueue_one(store, other)
    assert store.cancel_pending(now=at(5), subscription_id=sub.id) == 1
    assert store.get_delivery(a.id).status is DeliveryStatus.CANCELLED
    assert store.get_delivery(a.id).updated_at == at(5)
    assert store.cancel_pending(now=at(6), integration_id=owner.id) == 2
    assert {store.get_delivery(d.id).status for d in (b, c)} == {DeliveryStatus.CANCELLED}
    assert store.cancel_pending(now=at(7), integration_id=owner.id) == 0
    with pytest.raises(TypeError):
        store.cancel_pending(now=at(8))
    with pytest.raises(NotFound):
        store.cancel_pending(now=at(8), subscription_id="sub_nope")
