"""Rows to records and back, including the (optionally sealed) signing secrets and endpoint
headers.

A row that no longer validates (edited by hand, written by a newer version, or refused by a
stricter rule since) is reported as an :class:`~acadio_webhooks.errors.UnreadableRecord` (a
``StorageError``) naming the table, the row id and the failing fields, never the stored
values: one may be a secret.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from acadio_webhooks.adapters.storage.secret_box import SecretBox
from acadio_webhooks.adapters.storage.sql import schema
from acadio_webhooks.domain.messages import Notification, NotificationKind
from acadio_webhooks.domain.models import (
    Attempt,
    Delivery,
    DeliveryStatus,
    Event,
    Integration,
    SigningSecret,
    Subscription,
)
from acadio_webhooks.errors import UnreadableRecord

__all__ = ["SecretCodec", "integration_row", "event_row", "delivery_row"]
__all__ += ["notification_row", "to_event", "to_delivery"]
__all__ += ["to_attempt", "to_notification", "invalid_row"]

Row = Mapping[Any, Any]  # SQLAlchemy RowMapping keys may be columns too
ModelT = TypeVar("ModelT", bound=BaseModel)

_SEALED = "sealed:"
_SECRETS = TypeAdapter(tuple[SigningSecret, ...])


# What each table's rows are, as a tenant-facing error names them.
_KINDS = {
    schema.integrations.name: "integration",
    schema.subscriptions.name: "subscription",
    schema.events.name: "event",
    schema.deliveries.name: "delivery",
    schema.attempts.name: "attempt",
    schema.notifications.name: "notification",
}


def invalid_row(table: str, row_id: object, fields: Iterable[str]) -> UnreadableRecord:
    """The error for a stored row that does not validate: where it is and which fields fail.

    The values are left out on purpose (a signing secret may be one of them), and the
    validation error is not chained for the same reason.
    """
    failing = tuple(dict.fromkeys(fields))
    listed = ", ".join(failing) or "the row as a whole"
    return UnreadableRecord(
        f"stored row {row_id!r} of table {table} is invalid ({listed}): correct or delete it, "
        "or run the acadio-webhooks version that wrote it",
        kind=_KINDS.get(table, "record"),
        record_id=str(row_id),
        table=table,
        fields=failing,
    )


def _field_names(exc: ValidationError, *prefix: str) -> list[str]:
    """``secrets.0.value``-style paths of the failing fields."""
    return [".".join(map(str, (*prefix, *error["loc"]))) for error in exc.errors()]


def _validated(model: type[ModelT], fields: Mapping[str, Any], table: str) -> ModelT:
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        raise invalid_row(table, fields.get("id"), _field_names(exc)) from None


def _sealed_unreadable(
    table: str, column: str, what: str, record_id: str, problem: str
) -> UnreadableRecord:
    """The error for a sealed ``column`` of a ``table`` row that does not open."""
    kind = _KINDS[table]
    return UnreadableRecord(
        f"the {what} of {kind} {record_id!r} {problem}",
        kind=kind,
        record_id=record_id,
        table=table,
        fields=(column,),
    )


class SecretCodec:
    """Signing secrets (the ``secrets`` column) and endpoint headers (``headers``) as text:
    JSON, sealed when a box is given.

    Plain rows stay readable after a box is configured (they are sealed on their next write),
    but sealed rows cannot be read without the box.
    """

    def __init__(self, box: SecretBox | None) -> None:
        self._box = box

    def dump(self, secrets: tuple[SigningSecret, ...]) -> str:
        plain = json.dumps(
            [
                {
                    "value": s.value.get_secret_value(),
                    "created_at": s.created_at.isoformat(),
                    "expires_at": None if s.expires_at is None else s.expires_at.isoformat(),
                }
                for s in secrets
            ]
        )
        return self._sealed(plain)

    def _sealed(self, plain: str) -> str:
        if self._box is None:
            return plain
        sealed = self._box.seal(plain.encode("utf-8"))
        return _SEALED + base64.urlsafe_b64encode(sealed).decode("ascii")

    def _opened(self, text: str, unreadable: Callable[[str], UnreadableRecord]) -> str:
        if not text.startswith(_SEALED):
            return text
        if self._box is None:
            raise unreadable("are encrypted; open the store with the secret_box that sealed them")
        try:
            return self._box.open(base64.urlsafe_b64decode(text[len(_SEALED) :])).decode()
        except ValueError as exc:
            raise unreadable("do not open with this secret_box (wrong or retired key?)") from exc

    def dump_headers(self, headers: Mapping[str, str]) -> str | None:
        """A subscription's custom headers as the ``headers`` column (None when it has none,
        so that claims of the many subscriptions without any skip decoding)."""
        return self._sealed(json.dumps(dict(headers))) if headers else None

    def load_headers(self, text: str | None, subscription_id: str) -> dict[str, str]:
        """The custom headers of a subscription row; ``UnreadableRecord`` if they cannot be
        read (sealed without the box, or not the JSON object :meth:`dump_headers` wrote)."""
        if text is None:
            return {}
        plain = self._opened(
            text,
            partial(
                _sealed_unreadable,
                schema.subscriptions.name,
                "headers",
                "custom headers",
                subscription_id,
            ),
        )
        try:
            headers = json.loads(plain)
        except ValueError:
            headers = None
        if not isinstance(headers, dict) or not all(
            isinstance(value, str) for value in headers.values()
        ):
            raise invalid_row(schema.subscriptions.name, subscription_id, ["headers"])
        return headers

    def opens(self, text: str) -> bool | None:
        """Whether stored secrets are readable: None when not sealed, else whether the box
        opens them (never without a box)."""
        if not text.startswith(_SEALED):
            return None
        if self._box is None:
            return False
        try:
            self._box.open(base64.urlsafe_b64decode(text[len(_SEALED) :]))
        except ValueError:
            return False
        return True

    def load(self, text: str, integration_id: str) -> tuple[SigningSecret, ...]:
        """The secrets of an integration row; ``UnreadableRecord`` if they cannot be read."""
        text = self._opened(
            text,
            partial(
                _sealed_unreadable, schema.integrations.name, "secrets", "secrets", integration_id
            ),
        )
        table = schema.integrations.name
        try:
            return _SECRETS.validate_python(json.loads(text))
        except ValidationError as exc:
            raise invalid_row(table, integration_id, _field_names(exc, "secrets")) from None
        except ValueError:  # not JSON at all
            raise invalid_row(table, integration_id, ["secrets"]) from None

    def to_integration(self, row: Row) -> Integration:
        fields = {
            "id": row["id"],
            "tenant": row["tenant"],
            "secrets": self.load(row["secrets"], row["id"]),
            "notification_email": row["notification_email"],
            "active": row["active"],
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
        }
        return _validated(Integration, fields, schema.integrations.name)

    def subscription_row(self, subscription: Subscription) -> dict[str, Any]:
        row = subscription.model_dump()
        row["headers"] = self.dump_headers(subscription.headers)
        return row

    def to_subscription(self, row: Row) -> Subscription:
        fields = dict(row)
        # The rate limiter's state belongs to the claims, not to the record.
        fields.pop("rate_sent_until", None)
        fields.pop("rate_queued_until", None)
        fields["headers"] = self.load_headers(fields.get("headers"), fields.get("id", "?"))
        return _validated(Subscription, fields, schema.subscriptions.name)

    def __repr__(self) -> str:
        return f"SecretCodec(sealed={self._box is not None})"


def integration_row(integration: Integration, codec: SecretCodec) -> dict[str, Any]:
    return {
        "id": integration.id,
        "tenant": integration.tenant,
        "secrets": codec.dump(integration.secrets),
        "notification_email": integration.notification_email,
        "active": integration.active,
        "created_at": integration.created_at,
        "updated_at": integration.updated_at,
    }


def event_row(event: Event) -> dict[str, Any]:
    # A record's fields hold no nested models, so its __dict__ copied is what model_dump()
    # returns, at a tenth of the cost (an emit makes one row per event and per delivery).
    return dict(event.__dict__)


def to_event(row: Row) -> Event:
    return _validated(Event, dict(row), schema.events.name)


def delivery_row(delivery: Delivery) -> dict[str, Any]:
    row = dict(delivery.__dict__)
    row["status"] = delivery.status.value
    if delivery.status is DeliveryStatus.PENDING and delivery.next_attempt_at is None:
        row["next_attempt_at"] = delivery.created_at
    return row


def to_delivery(row: Row) -> Delivery:
    fields = {name: row[name] for name in Delivery.model_fields}
    return _validated(Delivery, fields, schema.deliveries.name)


def to_attempt(row: Row) -> Attempt:
    fields = {name: row[name] for name in Attempt.model_fields if name != "id"}
    fields["id"] = row["attempt_id"]
    return _validated(Attempt, fields, schema.attempts.name)


def notification_row(notification: Notification) -> dict[str, Any]:
    return {
        "id": notification.id,
        "integration_id": notification.integration_id,
        "kind": notification.kind.value,
        "subscription_id": notification.subscription_id,
        "endpoint": notification.endpoint,
        "created_at": notification.created_at,
        "topic": notification.topic,
        "event_id": notification.event_id,
        "delivery_id": notification.delivery_id,
        "detail": notification.detail,
    }


def to_notification(row: Row) -> Notification:
    try:
        kind = NotificationKind(row["kind"])
    except ValueError:
        raise invalid_row(schema.notifications.name, row["id"], ["kind"]) from None
    return Notification(
        id=row["id"],
        integration_id=row["integration_id"],
        kind=kind,
        subscription_id=row["subscription_id"],
        endpoint=row["endpoint"],
        created_at=row["created_at"],
        topic=row["topic"],
        event_id=row["event_id"],
        delivery_id=row["delivery_id"],
        detail=row["detail"],
    )
