"""Settings of the example LMS: ``startproject``'s, trimmed, plus the webhooks app.

The database is SQLite (``db.sqlite3`` beside ``manage.py``) unless ``LMS_DB_ENGINE`` is
``postgresql`` or ``mysql``; then ``LMS_DB_NAME``, ``LMS_DB_HOST``, ``LMS_DB_PORT``,
``LMS_DB_USER`` and ``LMS_DB_PASSWORD`` say where. ``DJANGO_DEBUG=0`` turns development mode
off, and with it the permission to deliver to ``http://`` and loopback endpoints.
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

# Development defaults: a production project reads its key from the environment only.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "django-insecure-example-lms-development-only")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "testserver"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "acadio_webhooks.contrib.django",  # the webhook tables, emit, worker command, admin
    "courses",
]

ACADIO_WEBHOOKS = {
    "DATABASE": "default",  # the outbox lives in the project's own database
    "ALLOW_INSECURE_ENDPOINTS": DEBUG,  # http:// and loopback endpoints: development only
}

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "lms.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

_ENGINE = os.environ.get("LMS_DB_ENGINE", "sqlite3")
if _ENGINE == "sqlite3":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("LMS_DB_NAME", str(BASE_DIR / "db.sqlite3")),
            # The webhook worker opens the database file itself: tests need a file too.
            "TEST": {"NAME": str(BASE_DIR / "test_db.sqlite3")},
            # Django 5.1+: a request's transaction takes the write lock at its start, so a
            # worker writing at the same moment makes it wait instead of fail.
            "OPTIONS": {"transaction_mode": "IMMEDIATE"},
        }
    }
else:
    if _ENGINE == "mysql":
        try:
            import MySQLdb  # noqa: F401 - mysqlclient, Django's own MySQL driver
        except ImportError:
            # PyMySQL (the `mysql` extra) stands in where mysqlclient is not installed.
            import pymysql

            pymysql.install_as_MySQLdb()
    DATABASES = {
        "default": {
            "ENGINE": f"django.db.backends.{_ENGINE}",
            "NAME": os.environ["LMS_DB_NAME"],
            "HOST": os.environ.get("LMS_DB_HOST", "127.0.0.1"),
            "PORT": os.environ.get("LMS_DB_PORT", ""),
            "USER": os.environ.get("LMS_DB_USER", ""),
            "PASSWORD": os.environ.get("LMS_DB_PASSWORD", ""),
        }
    }
# Every request in one transaction: a completion and its webhook event commit together.
DATABASES["default"]["ATOMIC_REQUESTS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
STATIC_URL = "static/"
