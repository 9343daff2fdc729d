"""The customer page's admin flow in host code, on the embedded SQLite store.

Run it: ``python examples/manage_integrations.py [path/to/webhooks.db]``. It uses
``EndpointPolicy(allow_insecure=True)`` so that a local ``http://127.0.0.1`` receiver is
accepted; in production leave the default policy: https and public hosts only.
"""

from __future__ import annotations

import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

from acadio_webhooks import Dispatcher, EndpointPolicy


def main(database: Path) -> None:
    dispatcher = Dispatcher(
        f"sqlite:///{database}",
        endpoint_policy=EndpointPolicy(allow_insecure=True),  # local development only
    )
    hooks = dispatcher.integrations

    # Settings -> Manage Integrations -> Install, with a secret key.
    integration = hooks.install("tenant-42", secret="s3cret-key-of-at-least-16-chars")

    # Subscriptions: a pattern and an endpoint each.
    completions = hooks.subscribe(
        integration.id, "course/completion/create", "http://127.0.0.1:8000/hooks"
    )
    everything_course = hooks.subscribe(integration.id, "course/*", "http://127.0.0.1:8000/all")

    # The address told when webhooks fail.
    hooks.set_notification_email(integration.id, "lms-admin@example.com")

    # Later: move an endpoint, pause a subscription, rotate the secret.
    hooks.update_subscription(completions.id, endpoint="http://127.0.0.1:8001/hooks")
    hooks.update_subscription(everything_course.id, active=False)
    hooks.rotate_secret(integration.id, "n3w-secret-key-of-16-chars-or-more")

    # The admin page's views.
    for subscription in hooks.subscriptions(integration.id):
        state = "active" if subscription.active else "paused"
        print(f"{subscription.pattern:28} -> {subscription.endpoint} ({state})")
    dispatcher.emit("course/completion/create", {"course_id": 7}, tenant="tenant-42")
    for delivery in dispatcher.deliveries(tenant="tenant-42").items:
        print(f"{delivery.topic} to {delivery.subscription_id}: {delivery.status.value}")

    # Failed deliveries can be re-sent, one or all since a time.
    since = datetime.now(timezone.utc) - timedelta(days=1)
    print("re-sent:", dispatcher.resend_failed(integration.id, since=since))

    # Disconnecting: nothing more is sent, pending deliveries are cancelled.
    hooks.deactivate(integration.id)
    print("active:", hooks.get(integration.id).active)
    dispatcher.close()


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as folder:
            main(Path(folder) / "webhooks.db")
