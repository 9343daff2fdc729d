"""The hostile endpoints in a process of their own.

A :class:`~tests.reliability.hostile.HostileServer` in the test's process shares the GIL with
the worker under test: with 64 sync-worker threads busy and the machine loaded, the server's
loop thread could wait long enough that ``slow-ok`` (answers after 0.2 s) missed a 1 s read
timeout. :class:`HostileProcess` runs the same listeners in a child Python process and answers
questions about their counters over its pipes (one JSON line per command and per reply), so a
busy worker can only slow the endpoints the way a busy network would.

Only behaviours that can be named cross the pipe: the entries of ``BEHAVIOURS``,
``no-accept``, and :class:`Answer` (a fixed status, body and headers).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tests.reliability.hostile import BEHAVIOURS, HostileServer, answer

__all__ = ["Answer", "HostileProcess", "RemoteListener"]

_ROOT = Path(__file__).resolve().parents[2]
_WAIT = 60.0  # seconds for the child to stop


@dataclass(frozen=True)
class Answer:
    """The behaviour ``answer(status, body, *headers)``, in a form that crosses a pipe."""

    status: int
    body: str = ""
    headers: tuple[str, ...] = field(default_factory=tuple)


@dataclass
class RemoteListener:
    """One port in the child process; counters are read from the child when asked."""

    name: str
    port: int
    _process: HostileProcess

    def url(self, path: str = "/hook", *, scheme: str = "http", host: str = "127.0.0.1") -> str:
        return f"{scheme}://{host}:{self.port}{path}"

    @property
    def connections(self) -> int:
        return int(self._process.ask("count", self.name)["connections"])

    @property
    def open_connections(self) -> int:
        return int(self._process.ask("count", self.name)["open_connections"])

    @property
    def requests(self) -> int:
        return int(self._process.ask("count", self.name)["requests"])


class HostileProcess:
    """Listeners on 127.0.0.1 served by a child process (see the module docstring)."""

    def __init__(self) -> None:
        self.listeners: dict[str, RemoteListener] = {}
        self._lock = threading.Lock()
        self._child = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.hostile_process"],
            cwd=_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        commands, replies = self._child.stdin, self._child.stdout
        assert commands is not None
        assert replies is not None
        self._commands, self._replies = commands, replies
        self.ask("ping")

    def add(self, name: str, behaviour: Answer | None = None) -> RemoteListener:
        """Open a listener playing ``behaviour`` (default: the one ``name`` stands for)."""
        spec = None if behaviour is None else asdict(behaviour)
        port = int(self.ask("add", name, spec)["port"])
        listener = RemoteListener(name, port, self)
        self.listeners[name] = listener
        return listener

    def refuse(self, name: str) -> None:
        """Close ``name``'s listener, leaving a port that certainly refuses connections."""
        self.ask("refuse", name)

    def ask(self, *command: Any) -> dict[str, Any]:
        with self._lock:
            self._commands.write(json.dumps(command) + "\n")
            self._commands.flush()
            line = self._replies.readline()
        if not line:
            raise RuntimeError(f"the hostile endpoints' process ended (exit {self._child.poll()})")
        reply: dict[str, Any] = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"hostile endpoints' process, {command[0]!r}: {reply['error']}")
        return reply

    def close(self) -> None:
        """Stop the child process and close its pipes."""
        try:
            self.ask("stop")
        except (RuntimeError, OSError, ValueError):
            self._child.kill()
        finally:
            self._child.wait(_WAIT)
            self._commands.close()
            self._replies.close()


def _serve() -> None:
    """The child: one :class:`HostileServer`, driven by commands on stdin."""
    server = HostileServer()
    try:
        for line in sys.stdin:
            verb, *arguments = json.loads(line)
            try:
                reply = _obey(server, verb, arguments)
            except Exception as exc:  # reported to the test, which raises it
                reply = {"error": f"{type(exc).__name__}: {exc}"}
            sys.stdout.write(json.dumps(reply) + "\n")
            sys.stdout.flush()
            if verb == "stop":
                return
    finally:
        server.close()


def _obey(server: HostileServer, verb: str, arguments: list[Any]) -> dict[str, Any]:
    if verb in ("ping", "stop"):
        return {}
    if verb == "add":
        name, spec = arguments
        if spec is None:
            behaviour = None if name == "no-accept" else BEHAVIOURS[name]
        else:
            behaviour = answer(spec["status"], spec["body"].encode(), *spec["headers"])
        return {"port": server.add(name, behaviour).port}
    if verb == "count":
        listener = server.listeners[arguments[0]]
        return {
            "connections": listener.connections,
            "open_connections": listener.open_connections,
            "requests": listener.requests,
        }
    if verb == "refuse":
        server.refuse(arguments[0])
        return {}
    raise ValueError(f"unknown command {verb!r}")


if __name__ == "__main__":
    _serve()
