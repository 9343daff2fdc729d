"""The Django app: ``INSTALLED_APPS = [..., "acadio_webhooks.contrib.django"]``."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AcadioWebhooksConfig(AppConfig):
    """Webhooks in the project's own database; ``manage.py migrate`` creates and upgrades
    the store's tables (the library's Alembic revisions, run after Django's migrations)."""

    name = "acadio_webhooks.contrib.django"
    label = "acadio_webhooks"
    verbose_name = "Webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        post_migrate.connect(_upgrade_store, sender=self, dispatch_uid="acadio_webhooks.migrate")


def _upgrade_store(sender: AppConfig, using: str, verbosity: int = 1, **_: Any) -> None:
    """After ``migrate`` on the app's database: upgrade the store's schema to the newest
    revision the installed library ships (a no-op when it is there already)."""
    from acadio_webhooks.adapters.storage.sql import SqlStore
    from acadio_webhooks.contrib.django._conf import load_settings, store_url

    if using != load_settings().database:
        return
    store = SqlStore(store_url(using), create=False)
    try:
        store.migrate()
    finally:
        store.close()
    if verbosity >= 1:
        print("  acadio-webhooks: store schema is at the newest revision")  # noqa: T201
