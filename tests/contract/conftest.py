"""The contract suites' shared fixture (the ``store`` fixture comes from ``tests.stores``)."""

from __future__ import annotations

import pytest

from acadio_webhooks.domain.models import Subscription
from acadio_webhooks.ports.storage import Store
from tests.contract.builders import integration, subscription


@pytest.fixture
def sub(store: Store) -> Subscription:
    """One active subscription of one active integration of tenant ``acme``."""
    owner = integration()
    store.add_integration(owner)
    made = subscription(owner)
    store.add_subscription(made)
    return made
