"""What every store is, whatever its role: it plays every role of the storage port, closes
once for all, and answers bad text with the port's own errors. Each role has its own
contract file beside this one (``test_registry_contract.py``, ``test_outbox_contract.py``,
``test_queue_contract.py``, ``test_settle_contract.py``, ``test_history_contract.py``,
``test_notices_contract.py``, ``test_leases_contract.py``, ``test_prune_contract.py``,
``test_erase_contract.py``); every test runs against memory, SQLite, PostgreSQL and MariaDB.
"""

from __future__ import annotations

import pytest

from acadio_webhooks.errors import NotFound, StorageError
from acadio_webhooks.ports.storage import (
    DeliveryQuery,
    DeliveryQueue,
    History,
    Leases,
    NoticeQueue,
    Outbox,
    Registry,
    Retention,
    Store,
)


def test_close_is_idempotent_and_final(store: Store) -> None:
    store.close()
    store.close()
    with pytest.raises(StorageError, match="closed"):
        store.list_integrations()


@pytest.mark.parametrize(
    "role", [Registry, Outbox, DeliveryQueue, History, NoticeQueue, Retention, Leases, Store]
)
def test_every_store_plays_every_role(store: Store, role: type) -> None:
    assert isinstance(store, role)


@pytest.mark.parametrize("text", ["\ud800", "a\udfffb", "nul\x00byte"])
def test_text_no_database_can_hold_is_a_store_error_not_a_codec_error(
    store: Store, text: str
) -> None:
    # Ids and filters come from hosts and admin pages; an unencodable one must not escape
    # the port's two error types.
    for read in (
        lambda: store.get_integration(text),
        lambda: store.get_delivery(text),
        lambda: store.routes(text),
        lambda: store.list_deliveries(DeliveryQuery(tenant=text)),
    ):
        try:
            read()
        except (NotFound, StorageError):
            pass
