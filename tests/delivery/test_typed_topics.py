"""A dispatcher with typed topics on every store: data that fits is sent as the schema makes
it; data that does not is refused with the field named, and nothing is stored."""

from __future__ import annotations

import json

import pydantic
import pytest

from acadio_webhooks.adapters.clock import FakeClock
from acadio_webhooks.adapters.resolver import StaticResolver
from acadio_webhooks.dispatcher import AsyncDispatcher, Dispatcher, NewEvent
from acadio_webhooks.domain.topics import TOPICS, TopicCatalog
from acadio_webhooks.errors import PayloadMismatch
from acadio_webhooks.ports.storage import DeliveryQuery, Store

COMPLETION = "course/completion/create"


class CourseCompletion(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    student_id: int
    course_id: int
    passed: bool = True


CATALOG = TOPICS.copy()
CATALOG.attach_schema(COMPLETION, CourseCompletion)


def subscribed(store: Store, catalog: TopicCatalog) -> tuple[Dispatcher, str]:
    """A dispatcher on ``catalog`` whose tenant ``acme`` subscribes to ``course/*``; and the
    subscription's id."""
    made = Dispatcher(
        store,
        clock=FakeClock(),
        catalog=catalog,
        resolver=StaticResolver({"hooks.example.com": ["93.184.216.34"]}),
    )
    integration = made.integrations.install("acme", secret="whsec-typed-0123456789")
    url = "https://hooks.example.com/in"
    return made, made.integrations.subscribe(integration.id, "course/*", url).id


@pytest.fixture
def dispatcher(store: Store) -> Dispatcher:
    return subscribed(store, CATALOG)[0]


def stored_bodies(store: Store) -> list[dict[str, object]]:
    deliveries = store.list_deliveries(DeliveryQuery(limit=100)).items
    return [json.loads(store.get_event(d.event_id).payload) for d in deliveries]


def test_fitting_data_is_stored_as_the_model_makes_it(dispatcher: Dispatcher, store: Store) -> None:
    dispatcher.emit(COMPLETION, {"student_id": "7", "course_id": 3}, tenant="acme")
    dispatcher.emit(COMPLETION, CourseCompletion(student_id=8, course_id=3), tenant="acme")
    assert sorted(body["data"]["student_id"] for body in stored_bodies(store)) == [7, 8]  # type: ignore[index]
    assert all(body["data"]["passed"] is True for body in stored_bodies(store))  # type: ignore[index]


def test_bad_data_is_refused_with_the_field_named_and_nothing_stored(
    dispatcher: Dispatcher, store: Store
) -> None:
    with pytest.raises(PayloadMismatch, match=r"data\['course_id'\]: Field required"):
        dispatcher.emit(COMPLETION, {"student_id": 7}, tenant="acme")
    with pytest.raises(PayloadMismatch, match=r"data\['grade'\]: Extra inputs are not permitted"):
        dispatcher.emit(COMPLETION, {"student_id": 7, "course_id": 1, "grade": "A"}, tenant="acme")
    assert stored_bodies(store) == []


def test_one_bad_event_of_a_batch_stores_none_and_says_which(
    dispatcher: Dispatcher, store: Store
) -> None:
    good = NewEvent(COMPLETION, {"student_id": 1, "course_id": 1}, tenant="acme")
    bad = NewEvent(COMPLETION, {"student_id": "one", "course_id": 1}, tenant="acme")
    with pytest.raises(PayloadMismatch, match=r"^events\[1\]\.data does not fit topic") as caught:
        dispatcher.emit_many([good, bad, good])
    assert list(caught.value.problems) == ["data['student_id']"]
    assert stored_bodies(store) == []


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_async_dispatcher_checks_the_same_way(store: Store, anyio_backend: str) -> None:
    dispatcher = AsyncDispatcher(store, clock=FakeClock(), catalog=CATALOG)
    with pytest.raises(PayloadMismatch, match=r"data\['course_id'\]"):
        await dispatcher.emit(COMPLETION, {"student_id": 7}, tenant="acme")
    assert await dispatcher.emit(COMPLETION, {"student_id": 7, "course_id": 1}, tenant="acme")


@pytest.mark.parametrize(
    ("example", "sent"),
    [
        ({"student_id": 0, "course_id": 0}, {"student_id": 0, "course_id": 0, "passed": True}),
        (None, {"test": True, "message": "A test event sent from the webhooks settings."}),
    ],
)
def test_a_test_event_of_a_typed_topic_carries_its_example_or_the_plain_test_object(
    store: Store, example: dict[str, int] | None, sent: dict[str, object]
) -> None:
    catalog = TOPICS.copy()
    catalog.attach_schema(COMPLETION, CourseCompletion, example=example)
    dispatcher, subscription_id = subscribed(store, catalog)
    dispatcher.send_test_event(subscription_id, topic=COMPLETION)
    [body] = stored_bodies(store)
    assert body["data"] == sent
