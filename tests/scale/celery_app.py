"""The Celery app the Celery scale tests and the benchmark run in a real ``celery worker``.

Configured from the environment so one module serves every run:
``ACADIO_CELERY_BROKER``, ``ACADIO_CELERY_DB``, ``ACADIO_CELERY_QUEUE``, and optionally
``ACADIO_CELERY_LEASE`` (seconds), ``ACADIO_CELERY_CHUNK``, ``ACADIO_CELERY_BATCH`` and
``ACADIO_CELERY_PUMP_INTERVAL`` (seconds). A setting not given keeps
:class:`CelerySettings`' default, so a run without them measures what a new user gets.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from celery import Celery

from acadio_webhooks.celery import CeleryDelivery, CelerySettings
from acadio_webhooks.domain.endpoints import EndpointPolicy

__all__ = ["app", "webhooks"]

QUEUE = os.environ["ACADIO_CELERY_QUEUE"]

app = Celery("acadio_scale", broker=os.environ["ACADIO_CELERY_BROKER"])
app.conf.update(
    task_default_queue=QUEUE,
    # With acks_late, a prefetched message is held unacknowledged; one at a time keeps the
    # work spread over the workers (the setting the docs recommend).
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)
_given: dict[str, Any] = {}
if "ACADIO_CELERY_LEASE" in os.environ:
    _given["lease"] = timedelta(seconds=float(os.environ["ACADIO_CELERY_LEASE"]))
if "ACADIO_CELERY_CHUNK" in os.environ:
    _given["chunk"] = int(os.environ["ACADIO_CELERY_CHUNK"])
if "ACADIO_CELERY_BATCH" in os.environ:
    _given["batch_size"] = int(os.environ["ACADIO_CELERY_BATCH"])
if "ACADIO_CELERY_PUMP_INTERVAL" in os.environ:
    _given["pump_interval"] = float(os.environ["ACADIO_CELERY_PUMP_INTERVAL"])

webhooks = CeleryDelivery(
    app,
    os.environ["ACADIO_CELERY_DB"],
    endpoint_policy=EndpointPolicy(allow_insecure=True),
    settings=CelerySettings(queue=QUEUE, **_given),
)
