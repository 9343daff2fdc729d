"""Batching (when an integration is mailed) and composition (what the mail says)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest

from acadio_webhooks.domain.messages import Notification, NotificationKind
from acadio_webhooks.domain.notices import (
    DEFAULT_NOTICE_GRACE,
    DEFAULT_NOTICE_WINDOW,
    compose_notice,
    plan_notices,
)

T0 = datetime(2026, 3, 3, 12, 0, tzinfo=timezone.utc)
FAILED = NotificationKind.DELIVERY_FAILED
FAILING = NotificationKind.ENDPOINT_FAILING
DISABLED = NotificationKind.ENDPOINT_DISABLED
RECOVERED = NotificationKind.ENDPOINT_RECOVERED

_counter = iter(range(1_000_000))


def note(
    kind: NotificationKind = FAILED,
    *,
    at: timedelta = timedelta(0),
    integration: str = "int_a",
    subscription: str = "sub_1",
    endpoint: str = "https://hooks.example.com/acadio",
    topic: str | None = "course/completion/create",
    event: str | None = None,
    detail: str | None = "HTTP 500",
) -> Notification:
    number = next(_counter)
    return Notification(
        id=f"ntf_{number:06d}",
        integration_id=integration,
        kind=kind,
        subscription_id=subscription,
        endpoint=endpoint,
        created_at=T0 + at,
        topic=topic if kind is FAILED else None,
        event_id=(event or f"evt_{number:06d}") if kind is FAILED else None,
        delivery_id=f"dlv_{number:06d}" if kind is FAILED else None,
        detail=detail,
    )


def minutes(value: float) -> timedelta:
    return timedelta(minutes=value)


def flat(text: str) -> str:
    """The text with line wrapping undone, to look for sentences in it."""
    return " ".join(text.split())


# -- batching ---------------------------------------------------------------------------------


def test_defaults_are_one_notice_per_quarter_hour_after_a_one_minute_grace() -> None:
    assert DEFAULT_NOTICE_WINDOW == minutes(15)
    assert DEFAULT_NOTICE_GRACE == minutes(1)


# Each row: ages (minutes before "now") of one integration's unsent notifications, minutes
# since its last notice (None: never mailed), and whether a notice is due now.
TIMELINES = [
    pytest.param([0.5], None, False, id="first failure still in its grace minute"),
    pytest.param([1], None, True, id="grace over, never mailed"),
    pytest.param([3, 0.1], None, True, id="burst: the oldest decides, the newest rides along"),
    pytest.param([5], 10, False, id="mailed 10 min ago: wait for the window"),
    pytest.param([5], 15, True, id="mailed exactly one window ago"),
    pytest.param([20], 14.9, False, id="old notification, recent notice: still wait"),
    pytest.param([0.2], 60, False, id="long quiet, but the new failure is in its grace"),
    pytest.param([2], -1, False, id="last notice in the future (clock skew): wait"),
]


@pytest.mark.parametrize(("ages", "last_notice_minutes_ago", "due"), TIMELINES)
def test_when_an_integration_is_due(
    ages: list[float], last_notice_minutes_ago: float | None, due: bool
) -> None:
    now = T0 + minutes(60)
    unsent = [note(at=minutes(60) - minutes(age)) for age in ages]
    last = None if last_notice_minutes_ago is None else now - minutes(last_notice_minutes_ago)

    planned = plan_notices(unsent, now=now, last_notice_at=lambda _: last)

    if due:
        assert len(planned) == 1
        assert set(planned[0].notifications) == set(unsent)
    else:
        assert planned == []


def test_a_dead_endpoint_costs_one_notice_per_window_not_one_per_failure() -> None:
    """Simulate a flush every minute for two hours while an endpoint fails every second."""
    unsent: list[Notification] = []
    last: datetime | None = None
    notices = []
    for minute in range(120):
        unsent += [note(at=minutes(minute) + timedelta(seconds=s)) for s in range(0, 60, 1)]
        now = T0 + minutes(minute + 1)
        for batch in plan_notices(unsent, now=now, last_notice_at=lambda _: last):
            notices.append(batch)
            sent = set(batch.notifications)
            unsent = [n for n in unsent if n not in sent]
            last = now
    # First notice after the grace minute, then one per 15 minutes: 1, 16, 31, ... 106.
    assert len(notices) == 8
    assert sum(len(batch.notifications) for batch in notices) + len(unsent) == 120 * 60


def test_integrations_are_planned_independently_longest_waiting_first() -> None:
    now = T0 + minutes(30)
    unsent = [
        note(integration="int_b", at=minutes(10)),
        note(integration="int_a", at=minutes(20)),
        note(integration="int_c", at=minutes(29.5)),  # in its grace period
        note(integration="int_d", at=minutes(5)),  # mailed recently
        note(integration="int_b", at=minutes(25)),
    ]
    last = {"int_d": now - minutes(3)}

    planned = plan_notices(unsent, now=now, last_notice_at=last.get)

    assert [p.integration_id for p in planned] == ["int_b", "int_a"]
    assert [n.created_at for n in planned[0].notifications] == [T0 + minutes(10), T0 + minutes(25)]
    assert planned[0].notification_ids == [n.id for n in planned[0].notifications]


def test_last_notice_is_looked_up_once_per_integration() -> None:
    asked: list[str] = []

    def last_notice_at(integration_id: str) -> datetime | None:
        asked.append(integration_id)
        return None

    unsent = [note(integration=i) for i in ("int_a", "int_b", "int_a", "int_a")]
    plan_notices(unsent, now=T0 + minutes(5), last_notice_at=last_notice_at)
    assert sorted(asked) == ["int_a", "int_b"]


def test_custom_window_and_grace() -> None:
    unsent = [note()]
    now = T0 + timedelta(seconds=10)
    assert plan_notices(unsent, now=now, grace=timedelta(0), last_notice_at=lambda _: None)
    recent = now - minutes(2)
    assert not plan_notices(unsent, now=now, grace=timedelta(0), last_notice_at=lambda _: recent)
    assert plan_notices(
        unsent, now=now, grace=timedelta(0), window=minutes(1), last_notice_at=lambda _: recent
    )


def test_naive_times_are_taken_as_utc() -> None:
    naive = Notification(
        id="ntf_naive",
        integration_id="int_a",
        kind=FAILED,
        subscription_id="sub_1",
        endpoint="https://hooks.example.com/acadio",
        created_at=T0.replace(tzinfo=None),
    )
    now = T0 + minutes(1)
    assert plan_notices([naive], now=now, last_notice_at=lambda _: None)
    assert not plan_notices([naive], now=now - timedelta(seconds=1), last_notice_at=lambda _: None)
    text = compose_notice("int_a", "ops@example.com", [naive]).text
    assert "Reported at 2026-03-03 12:00:00 (UTC)" in text


def test_negative_window_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        plan_notices([], now=T0, window=-minutes(1), last_notice_at=lambda _: None)


# -- composition ------------------------------------------------------------------------------


def test_subject_counts_deliveries_and_endpoints() -> None:
    notifications = [
        note(FAILED, subscription="sub_1"),
        note(FAILED, subscription="sub_1"),
        note(FAILED, subscription="sub_2", endpoint="https://b.example.com/h"),
        note(DISABLED, subscription="sub_2", endpoint="https://b.example.com/h", detail="410 Gone"),
    ]
    notice = compose_notice("int_a", "ops@example.com", notifications)
    assert notice.subject == "Acadio webhooks: 3 deliveries failed, 1 endpoint disabled"
    assert notice.to == "ops@example.com"
    assert notice.integration_id == "int_a"


@pytest.mark.parametrize(
    ("kinds", "summary"),
    [
        ([FAILED], "1 delivery failed"),
        ([FAILING], "1 endpoint failing"),
        ([FAILING, RECOVERED], "1 endpoint failing, 1 endpoint recovered"),
        ([RECOVERED], "1 endpoint recovered"),
        ([DISABLED, FAILED, FAILED], "2 deliveries failed, 1 endpoint disabled"),
    ],
)
def test_subject_names_each_kind(kinds: list[NotificationKind], summary: str) -> None:
    notice = compose_notice(
        "int_a", "ops@example.com", [note(kind) for kind in kinds], product_name="Campus"
    )
    assert notice.subject == f"Campus webhooks: {summary}"


def test_endpoints_in_the_subject_are_counted_once_each() -> None:
    notifications = [
        note(FAILING, subscription="sub_1"),
        note(FAILING, subscription="sub_1", at=minutes(9)),
        note(FAILING, subscription="sub_2", endpoint="https://b.example.com/h"),
    ]
    notice = compose_notice("int_a", "ops@example.com", notifications)
    assert notice.subject == "Acadio webhooks: 2 endpoints failing"


def test_body_groups_by_endpoint_most_urgent_first() -> None:
    notifications = [
        note(RECOVERED, subscription="sub_r", endpoint="https://recovered.example.com/h"),
        note(FAILED, subscription="sub_f", endpoint="https://failed.example.com/h"),
        note(DISABLED, subscription="sub_d", endpoint="https://gone.example.com/h", detail="410"),
        note(FAILED, subscription="sub_f", endpoint="https://failed.example.com/h"),
    ]
    text = compose_notice("int_a", "ops@example.com", notifications).text
    headings = [line for line in text.splitlines() if line.startswith("Endpoint ")]
    assert headings == [
        "Endpoint https://gone.example.com/h (subscription sub_d)",
        "Endpoint https://failed.example.com/h (subscription sub_f)",
        "Endpoint https://recovered.example.com/h (subscription sub_r)",
    ]


def test_failed_deliveries_list_topics_events_attempts_and_last_error() -> None:
    notifications = [
        note(topic="course/completion/create", event="evt_a", detail="HTTP 500"),
        note(topic="identity/user/update", event="evt_b", at=minutes(1), detail="timeout"),
        note(topic="course/completion/create", event="evt_c", at=minutes(2), detail=None),
    ]
    text = flat(compose_notice("int_a", "ops@example.com", notifications).text)
    assert "3 deliveries failed for good after 7 attempts." in text
    assert "Topics: course/completion/create (2), identity/user/update (1)" in text
    assert "Events: evt_a, evt_b, evt_c Last error" in text
    # The newest failure that reported an error:
    assert "Last error: timeout" in text
    assert "re-send the failed deliveries" in text


def test_attempt_budget_comes_from_the_caller() -> None:
    assert (
        "failed for good after 4 attempts"
        in compose_notice("int_a", "ops@example.com", [note()], max_attempts=4).text
    )
    assert (
        "failed for good after the last retry"
        in compose_notice("int_a", "ops@example.com", [note()], max_attempts=None).text
    )


def test_listed_event_ids_are_capped() -> None:
    notifications = [note(event=f"evt_{i:02d}", at=timedelta(seconds=i)) for i in range(13)]
    text = flat(
        compose_notice("int_a", "ops@example.com", notifications, max_listed_events=10).text
    )
    listed = ", ".join(f"evt_{i:02d}" for i in range(10))
    assert f"Events: {listed} and 3 more Last error" in text
    assert "evt_10" not in text


def test_endpoints_beyond_the_cap_are_counted_not_listed() -> None:
    notifications = [
        note(subscription=f"sub_{i:02d}", endpoint=f"https://h{i:02d}.example.com/")
        for i in range(5)
    ]
    text = compose_notice("int_a", "ops@example.com", notifications, max_endpoints=3).text
    assert text.count("\nEndpoint ") == 3
    assert "... and 2 more endpoints not shown here." in text
    assert "h04.example.com" not in text


def test_endpoint_state_changes_are_explained() -> None:
    notifications = [
        note(FAILING, detail="4 consecutive failed attempts"),
        note(DISABLED, at=minutes(5), detail="failing for 5 days"),
    ]
    text = flat(compose_notice("int_a", "ops@example.com", notifications).text)
    assert "Started failing at 2026-03-03 12:00:00: 4 consecutive failed attempts." in text
    assert "Disabled at 2026-03-03 12:05:00: failing for 5 days." in text
    assert "pending deliveries were cancelled" in text
    assert "re-enable its subscription" in text
    # Disabled is where it ended, so it is not "still being retried".
    assert "still being retried" not in text


def test_a_failing_endpoint_is_said_to_be_retried_until_it_recovers() -> None:
    failing = flat(compose_notice("int_a", "ops@example.com", [note(FAILING)]).text)
    assert "still being retried" in failing
    recovered = flat(
        compose_notice(
            "int_a", "ops@example.com", [note(FAILING), note(RECOVERED, at=minutes(3))]
        ).text
    )
    assert "still being retried" not in recovered
    assert "Recovered at 2026-03-03 12:03:00: it answers with 2xx again." in recovered
    flapping = flat(
        compose_notice(
            "int_a",
            "ops@example.com",
            [note(FAILING), note(RECOVERED, at=minutes(3)), note(FAILING, at=minutes(6))],
        ).text
    )
    assert "Started failing 2 times, last at 2026-03-03 12:06:00" in flapping
    assert "still being retried" in flapping


def test_recovery_alone_needs_no_action() -> None:
    text = compose_notice("int_a", "ops@example.com", [note(RECOVERED)]).text
    assert "Nothing to do" in text
    assert "What to do" not in text


def test_portal_link_is_where_the_reader_acts() -> None:
    url = "https://lms.example.com/admin/settings/integrations/webhooks"
    text = compose_notice("int_a", "ops@example.com", [note(), note(DISABLED)], portal_url=url).text
    assert text.count(url) == 2
    default = flat(compose_notice("int_a", "ops@example.com", [note()]).text)
    assert "Acadio Admin portal (Settings > Manage Integrations)" in default


def test_endpoint_query_strings_are_hidden() -> None:
    notification = note(endpoint="https://hooks.example.com/in?token=s3cr3t-token#frag")
    text = compose_notice("int_a", "ops@example.com", [notification]).text
    assert "s3cr3t" not in text
    assert "Endpoint https://hooks.example.com/in?... (subscription sub_1)" in text


def test_error_details_are_flattened_and_bounded() -> None:
    detail = "HTTP 502:\r\n<html>\n\t<body>Bad gateway</body>\x00" + "x" * 1000
    text = compose_notice("int_a", "ops@example.com", [note(detail=detail)]).text
    shown = flat(text[text.index("Last error:") : text.index("What to do")])
    assert shown.startswith("Last error: HTTP 502: <html> <body>Bad gateway</body> xxx")
    assert shown.endswith("...")
    assert len(shown) < 320
    assert "\x00" not in text


def test_text_lines_fit_a_mail_reader() -> None:
    notifications = [note(), note(DISABLED, detail="410 Gone"), note(FAILING)]
    text = compose_notice("int_a", "ops@example.com", notifications).text
    assert max(len(line) for line in text.splitlines()) <= 76


def test_composition_is_deterministic_whatever_the_input_order() -> None:
    notifications = [note(kind, at=minutes(i % 7)) for i, kind in enumerate([FAILED] * 9)]
    notifications += [note(DISABLED, subscription="sub_2"), note(RECOVERED, subscription="sub_3")]
    shuffled = notifications[:]
    random.Random(4).shuffle(shuffled)

    first = compose_notice("int_a", "ops@example.com", notifications)
    second = compose_notice("int_a", "ops@example.com", shuffled)

    assert first == second
    assert first.notifications == tuple(sorted(notifications, key=lambda n: (n.created_at, n.id)))


def test_the_whole_digest() -> None:
    """The complete text of a typical digest, to review wording changes as a diff."""
    notifications = [
        note(FAILING, subscription="sub_1", detail="4 consecutive failed attempts: HTTP 503"),
        note(event="evt_1", at=minutes(1), detail="HTTP 503"),
        note(event="evt_2", at=minutes(2), topic="identity/user/create", detail="timeout"),
    ]
    notice = compose_notice(
        "int_a", "ops@example.com", notifications, portal_url="https://lms.example.com/webhooks"
    )
    assert notice.subject == "Acadio webhooks: 2 deliveries failed, 1 endpoint failing"
    assert notice.text == (
        "Hello,\n"
        "\n"
        "Webhooks of your Acadio integration int_a need attention.\n"
        "Reported from 2026-03-03 12:00:00 to 2026-03-03 12:02:00 (UTC):\n"
        "\n"
        "Endpoint https://hooks.example.com/acadio (subscription sub_1)\n"
        "  * Started failing at 2026-03-03 12:00:00: 4 consecutive failed attempts:\n"
        "    HTTP 503. Deliveries to it are still being retried.\n"
        "  * 2 deliveries failed for good after 7 attempts.\n"
        "    Topics: course/completion/create (1), identity/user/create (1)\n"
        "    Events: evt_1, evt_2\n"
        "    Last error: timeout\n"
        "\n"
        "What to do:\n"
        "  1. Check that each endpoint above is a public https:// URL that answers a\n"
        "     POST with a 2xx status within a few seconds, and that your server\n"
        "     accepts the requests (firewall, certificate, authentication).\n"
        "  2. Once the endpoint works, re-send the failed deliveries from\n"
        "     https://lms.example.com/webhooks: one at a time or all since a given\n"
        "     time.\n"
        "\n"
        "-- \n"
        "You receive this message because this address is set to receive\n"
        "notifications when Acadio webhooks fail for integration int_a. Change or\n"
        "remove it under Settings > Manage Integrations > Webhooks.\n"
    )


def test_a_notice_needs_notifications_of_its_own_integration() -> None:
    with pytest.raises(ValueError, match="at least one"):
        compose_notice("int_a", "ops@example.com", [])
    with pytest.raises(ValueError, match="int_b"):
        compose_notice("int_a", "ops@example.com", [note(), note(integration="int_b")])
