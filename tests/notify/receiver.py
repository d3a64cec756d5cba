"""A real local HTTP endpoint for notifications: records what is POSTed to it, answers as told."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    """One request the receiver got."""

    path: str
    headers: dict[str, str]
    """Header names in lower case."""
    body: Any
    at: float
    """``time.monotonic()`` when it arrived."""


class Receiver:
    """A threaded HTTP server on a free local port.

    Every POST is recorded; the answer is 200 unless ``status[path]`` says otherwise, after
    ``delay[path]`` seconds. Any other method is answered 404 (an unreachable @context).
    """

    def __init__(self) -> None:
        self.status: dict[str, int] = {}
        self.delay: dict[str, float] = {}
        self._received: list[Received] = []
        self._arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                raw = self.rfile.read(length)
                headers = {key.lower(): value for key, value in self.headers.items()}
                receiver._record(Received(self.path, headers, json.loads(raw), time.monotonic()))
                time.sleep(receiver.delay.get(self.path, 0.0))
                self.send_response(receiver.status.get(self.path, 200))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str = "/notify") -> str:
        """The URL of ``path`` on this receiver."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{path}"

    def _record(self, received: Received) -> None:
        with self._arrived:
            self._received.append(received)
            self._arrived.notify_all()

    def received(self, path: str | None = None) -> list[Received]:
        """What arrived so far (at ``path``), oldest first."""
        with self._arrived:
            return [r for r in self._received if path is None or r.path == path]

    def wait(self, count: int, path: str | None = None, timeout: float = 10.0) -> list[Received]:
        """Wait until ``count`` requests arrived (at ``path``); all of them, oldest first."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                found = [r for r in self._received if path is None or r.path == path]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"{len(found)} of {count} notifications arrived at {path or 'any path'}"
                    )
                self._arrived.wait(left)

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()
