"""One failure-notice flusher in a process of its own, for the fleet tests.

    python tests/notify/flusher_process.py STORE_URL SMTP_PORT [--smtp-timeout S] [--lease S]

Opens the SQL store, prints ``ready``, waits for a line on stdin (so that several processes
start flushing together), then flushes until nothing is left unsent (or ``--deadline``
seconds passed) and prints ``{"sent": n}``: how many notices this process had accepted.
Mails go through a real ``SmtpNotifier`` to 127.0.0.1:SMTP_PORT.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import timedelta

from acadio_webhooks.adapters.notifier.smtp import SmtpNotifier
from acadio_webhooks.adapters.storage.sql import SqlStore
from acadio_webhooks.notify import NotificationFlusher


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("store")
    parser.add_argument("smtp_port", type=int)
    parser.add_argument("--smtp-timeout", type=float, default=10.0)
    parser.add_argument("--lease", type=float, default=60.0)
    parser.add_argument("--deadline", type=float, default=60.0)
    args = parser.parse_args()

    store = SqlStore(args.store, create=False)
    notifier = SmtpNotifier(
        "127.0.0.1", args.smtp_port, sender="webhooks@lms.example.com", timeout=args.smtp_timeout
    )
    flusher = NotificationFlusher(
        store, notifier, grace=timedelta(0), lease=timedelta(seconds=args.lease)
    )
    print("ready", flush=True)
    sys.stdin.readline()
    sent = 0
    deadline = time.monotonic() + args.deadline
    try:
        while store.unsent_notifications(limit=1) and time.monotonic() < deadline:
            accepted = flusher.flush()
            sent += accepted
            if not accepted:
                time.sleep(0.005)  # another process holds the lease (or is marking)
    finally:
        store.close()
    print(json.dumps({"sent": sent}), flush=True)


if __name__ == "__main__":
    main()
