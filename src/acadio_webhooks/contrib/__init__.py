"""Faces of the library for host frameworks: :mod:`acadio_webhooks.contrib.django`."""
