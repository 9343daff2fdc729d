"""``python -m acadio_webhooks``: the command line (see :mod:`acadio_webhooks.cli`)."""

from __future__ import annotations

import sys

from acadio_webhooks.cli import main

__all__: list[str] = []

if __name__ == "__main__":
    sys.exit(main())
