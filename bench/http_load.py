"""A load generator: several processes, each with many keep-alive connections on raw asyncio.

httpx would be the bottleneck on two cores; pre-built request bytes over asyncio streams are not.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event

_install_uvloop: Callable[[], None] | None
try:
    import uvloop

    _install_uvloop = uvloop.install
except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
    _install_uvloop = None

_FORK = multiprocessing.get_context("fork")


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What a load run did: seconds from start until every response, and the status counts."""

    seconds: float
    statuses: dict[int, int]

    def count(self, status: int) -> int:
        """Responses with ``status``."""
        return self.statuses.get(status, 0)


def post_requests(path: str, bodies: list[bytes], api_key: str | None = None) -> list[bytes]:
    """One HTTP/1.1 keep-alive POST of JSON per body (with the API key, if given)."""
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    if api_key is not None:
        head += f"X-API-Key: {api_key}\r\n"
    return [head.encode() + b"Content-Length: %d\r\n\r\n" % len(body) + body for body in bodies]


def get_requests(path: str, count: int, api_key: str | None = None) -> list[bytes]:
    """``count`` identical keep-alive GETs (with the API key, if given)."""
    key = "" if api_key is None else f"X-API-Key: {api_key}\r\n"
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n{key}\r\n"
    return [request.encode()] * count


async def _connection(port: int, requests: Iterator[bytes], statuses: Counter[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for request in requests:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            statuses[int(head[9:12])] += 1
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
    finally:
        writer.close()


async def _send_all(port: int, requests: list[bytes], connections: int) -> Counter[int]:
    statuses: Counter[int] = Counter()
    shared = iter(requests)  # one event loop, so the connections share it safely
    await asyncio.gather(*(_connection(port, shared, statuses) for _ in range(connections)))
    return statuses


def _worker(
    port: int, requests: list[bytes], connections: int, go: Event, out: Queue[dict[int, int]]
) -> None:
    if _install_uvloop is not None:
        _install_uvloop()
    go.wait()
    out.put(dict(asyncio.run(_send_all(port, requests, connections))))


def send(
    port: int,
    requests: list[bytes],
    connections: int = 64,
    processes: int = 2,
    until: Callable[[], None] | None = None,
) -> LoadResult:
    """Send every request over ``connections`` connections in ``processes`` processes.

    The time runs from the start until every response is in and then ``until`` returns.
    """
    go = _FORK.Event()
    out: Queue[dict[int, int]] = _FORK.Queue()
    per_process = max(1, connections // processes)
    workers = [
        _FORK.Process(
            target=_worker, args=(port, requests[i::processes], per_process, go, out), daemon=True
        )
        for i in range(processes)
    ]
    for worker in workers:
        worker.start()
    time.sleep(0.2)  # let the forks settle before the clock starts
    started = time.perf_counter()
    go.set()
    statuses: Counter[int] = Counter()
    for _ in workers:
        statuses.update(out.get(timeout=300))
    if until is not None:
        until()
    seconds = time.perf_counter() - started
    for worker in workers:
        worker.join(10)
    return LoadResult(seconds, dict(statuses))
