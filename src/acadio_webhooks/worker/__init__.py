"""Delivery workers: thin drivers that move values between the ports and the delivery core.

* :class:`AsyncWorker` — the long-running async worker: claims due deliveries in batches,
  sends them concurrently (bounded globally and per endpoint), settles the outcomes in
  batches, flushes failure notices, and shuts down gracefully.
* :class:`SyncWorker` — for sync hosts, cron jobs and tests: ``drain()`` sends everything due
  now with a sync transport, in this thread. Safe inside a running event loop (it uses none).
* :class:`WorkerThread` — runs an :class:`AsyncWorker` on its own event loop in a background
  thread, for sync hosts (Django, Flask) that want continuous delivery in-process.
* :func:`tune_worker_process` — garbage-collector settings for a process that only delivers.

Every decision (signing, retry, give up, disable, notify) is made by
:mod:`acadio_webhooks.domain.core`; nothing here decides, so the two drivers cannot drift.
"""

from __future__ import annotations

from acadio_webhooks.worker._async import AsyncWorker
from acadio_webhooks.worker._process import ProcessTuning, tune_worker_process
from acadio_webhooks.worker._sync import SyncWorker
from acadio_webhooks.worker._thread import WorkerThread
from acadio_webhooks.worker.settings import DrainReport, WorkerSettings

__all__ = [
    "WorkerSettings",
    "DrainReport",
    "AsyncWorker",
    "SyncWorker",
    "WorkerThread",
    "ProcessTuning",
    "tune_worker_process",
]
