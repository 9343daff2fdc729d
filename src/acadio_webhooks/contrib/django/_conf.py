"""The app's settings (``settings.ACADIO_WEBHOOKS``) and the store's URL on a Django database."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.db.backends.sqlite3.base import DatabaseWrapper as SQLiteWrapper
from sqlalchemy.engine import URL

__all__ = ["WebhookSettings", "load_settings", "store_url"]

SETTING = "ACADIO_WEBHOOKS"


@dataclass(frozen=True)
class WebhookSettings:
    """``settings.ACADIO_WEBHOOKS``, every key optional:

    * ``DATABASE`` — the alias of the database that holds the outbox (default ``"default"``):
      events are written on that connection, inside the caller's transaction.
    * ``ALLOW_INSECURE_ENDPOINTS`` — accept ``http://`` and loopback endpoints; for local
      development and tests only (default ``False``).
    * ``CATALOG`` — dotted path to a :class:`~acadio_webhooks.TopicCatalog` of the topics the
      project emits (default: the documented ``TOPICS``).
    * ``MAX_PAYLOAD_BYTES`` — largest event body ``emit`` accepts (default 256 KiB).

    Signing secrets are sealed at rest with the keys of ``$ACADIO_WEBHOOKS_SECRET_KEY`` when
    it is set, as the command line does.
    """

    database: str = "default"
    allow_insecure_endpoints: bool = False
    catalog: str | None = None
    max_payload_bytes: int | None = None


_KEYS = {
    "DATABASE": "database",
    "ALLOW_INSECURE_ENDPOINTS": "allow_insecure_endpoints",
    "CATALOG": "catalog",
    "MAX_PAYLOAD_BYTES": "max_payload_bytes",
}


def load_settings() -> WebhookSettings:
    """The project's settings, checked: an unknown key or a wrong type is an
    ``ImproperlyConfigured`` naming it."""
    raw: Any = getattr(settings, SETTING, {})
    if not isinstance(raw, dict):
        raise ImproperlyConfigured(f"{SETTING} must be a dict, not {type(raw).__name__}")
    unknown = sorted(set(raw) - set(_KEYS))
    if unknown:
        raise ImproperlyConfigured(
            f"{SETTING} has unknown key(s) {', '.join(unknown)}; known: {', '.join(_KEYS)}"
        )
    found = WebhookSettings(**{_KEYS[key]: value for key, value in raw.items()})
    _check(found.database, str, "DATABASE")
    _check(found.allow_insecure_endpoints, bool, "ALLOW_INSECURE_ENDPOINTS")
    if found.catalog is not None:
        _check(found.catalog, str, "CATALOG")
    if found.max_payload_bytes is not None:
        _check(found.max_payload_bytes, int, "MAX_PAYLOAD_BYTES")
    if found.database not in settings.DATABASES:
        raise ImproperlyConfigured(
            f"{SETTING}['DATABASE'] is {found.database!r}, which is not in DATABASES"
        )
    return found


def _check(value: object, kind: type, key: str) -> None:
    if not isinstance(value, kind):
        raise ImproperlyConfigured(
            f"{SETTING}[{key!r}] must be a {kind.__name__}, not {type(value).__name__}"
        )


_SCHEMES = {
    "django.db.backends.sqlite3": "sqlite",
    "django.db.backends.postgresql": "postgresql+psycopg",
    "django.db.backends.mysql": "mysql+pymysql",
}


def store_url(alias: str) -> URL:
    """The SQLAlchemy URL of the database Django's ``alias`` connects to now (the test
    database while tests run), for the store's own engine: its workers and admin reads."""
    config = connections[alias].settings_dict
    engine = config["ENGINE"]
    scheme = _SCHEMES.get(engine)
    if scheme is None:
        raise ImproperlyConfigured(
            f"acadio-webhooks stores in SQLite, PostgreSQL or MySQL / MariaDB; the database "
            f"{alias!r} uses {engine}"
        )
    if scheme == "sqlite":
        name = str(config["NAME"])
        connection = connections[alias]
        if isinstance(connection, SQLiteWrapper) and connection.is_in_memory_db():
            # Django's test runner makes SQLite test databases in memory unless told not to;
            # the store's workers need a file they can open on their own connections.
            raise ImproperlyConfigured(
                f"acadio-webhooks needs the SQLite database {alias!r} in a file, and it is in "
                f"memory ({name}); for tests, set DATABASES[{alias!r}]['TEST']['NAME'] to a "
                "file path"
            )
        return URL.create("sqlite", database=name)
    return URL.create(
        scheme,
        username=config.get("USER") or None,
        password=config.get("PASSWORD") or None,
        host=config.get("HOST") or None,
        port=int(config["PORT"]) if config.get("PORT") else None,
        database=config.get("NAME") or None,
    )
