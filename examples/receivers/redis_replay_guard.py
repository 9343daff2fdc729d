"""A replay guard shared by every worker process of a receiver, kept in Redis.

``MemoryReplayGuard`` remembers messages in one process; behind a load balancer or with
several gunicorn/uvicorn workers, a replay can land on another process. This guard keeps them
in Redis (6.2 or newer, ``pip install redis``)::

    guard = RedisReplayGuard(Redis.from_url("redis://localhost:6379/0"))
    event = verify(body, headers, secret, replay_guard=guard)
"""

from __future__ import annotations

import math

from redis import Redis


class RedisReplayGuard:
    """A ``ReplayGuard``: one atomic ``SET key 1 NX EXAT expires_at`` per accepted message."""

    def __init__(self, client: Redis, *, prefix: str = "acadio-webhooks:seen:") -> None:
        self.client = client
        self.prefix = prefix

    def seen(self, key: str, expires_at: float) -> bool:
        """Record ``key`` until ``expires_at``; return whether it was already recorded."""
        stored = self.client.set(self.prefix + key, b"1", nx=True, exat=math.ceil(expires_at))
        return not stored
