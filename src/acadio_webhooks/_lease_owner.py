"""The name a holder of one of the store's named leases goes by (notice flusher, pruner)."""

from __future__ import annotations

import os
import secrets
import socket

__all__ = ["LeaseOwner"]


class LeaseOwner:
    """The ``owner`` given, else host, process id and a random part, the process id read at
    each use (so copies forked from one holder are different owners).

    Raises ``ValueError`` for a given name that is empty or over 255 characters (what the
    store's lease table keeps).
    """

    def __init__(self, given: str | None) -> None:
        if given is not None and not 0 < len(given) <= 255:
            raise ValueError("owner must be a non-empty string of at most 255 characters")
        self._given = given
        self._host = socket.gethostname()[:120]
        self._token = secrets.token_hex(6)

    @property
    def name(self) -> str:
        """The name to take and renew leases under, now."""
        if self._given is not None:
            return self._given
        return f"{self._host}:{os.getpid()}:{self._token}"
