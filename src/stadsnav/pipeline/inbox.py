"""Group commit into the durable inbox: a sender is answered only after its message is committed."""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable

import structlog

from stadsnav.store.base import ContextStore, NewInboxMessage

log = structlog.get_logger("stadsnav.inbox")

_Pending = tuple[NewInboxMessage, "asyncio.Future[bool]", asyncio.AbstractEventLoop]
_Answer = tuple["asyncio.Future[bool]", bool | Exception]


class InboxFullError(Exception):
    """Too many messages wait for a commit; the sender should retry later."""


class InboxUnavailableError(Exception):
    """The store refused the commit; the sender should retry later."""


class InboxWriter:
    """Commits messages from many concurrent senders in a few large transactions."""

    def __init__(
        self,
        store: ContextStore,
        on_commit: Callable[[], None] = lambda: None,
        max_pending: int = 10_000,
        max_group: int = 1_000,
    ) -> None:
        self.store = store
        self.on_commit = on_commit
        self.max_pending = max_pending
        self.max_group = max_group
        self._queue: deque[_Pending] = deque()
        self._ready = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="stadsnav-inbox", daemon=True)

    def start(self) -> None:
        """Start the committing thread."""
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Commit what is queued, then stop."""
        with self._ready:
            self._stopping = True
            self._ready.notify()
        self._thread.join(timeout)

    async def submit(self, message: NewInboxMessage, wait: bool = False) -> bool:
        """Commit one message; True if new, False if the inbox already held it.

        Raises ``InboxFullError`` when the queue is full (unless ``wait``, which waits for room)
        and ``InboxUnavailableError`` when the store cannot commit.
        """
        while len(self._queue) >= self.max_pending:
            if not wait:
                raise InboxFullError(f"{len(self._queue)} messages are waiting for the store")
            await asyncio.sleep(0.05)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        with self._ready:
            # Checked under the lock: after stop() the writer may be gone and would never answer.
            if self._stopping or not self._thread.is_alive():
                raise InboxUnavailableError("the platform is shutting down")
            self._queue.append((message, future, loop))
            self._ready.notify()
        return await future

    def _loop(self) -> None:
        while True:
            with self._ready:
                while not self._queue and not self._stopping:
                    self._ready.wait()
                if not self._queue:
                    return
                group = [
                    self._queue.popleft() for _ in range(min(self.max_group, len(self._queue)))
                ]
            try:
                self._commit(group)
            except Exception:
                # The writer must outlive any failure, or every later sender would wait forever.
                log.exception("inbox_writer_failed", messages=len(group))

    def _commit(self, group: list[_Pending]) -> None:
        try:
            ids = self.store.inbox_append([message for message, _, _ in group])
        except Exception as error:
            log.error("inbox_commit_failed", error=str(error), messages=len(group))
            failure = InboxUnavailableError(f"the store could not commit: {error}")
            _answer(group, [failure] * len(group))
            return
        try:
            self.on_commit()
        finally:
            _answer(group, [inbox_id is not None for inbox_id in ids])


def _answer(group: list[_Pending], outcomes: list[bool | Exception]) -> None:
    # One wake-up per event loop and group rather than per message: each
    # call_soon_threadsafe writes to the loop's self-pipe.
    by_loop: dict[asyncio.AbstractEventLoop, list[_Answer]] = {}
    for (_, future, loop), outcome in zip(group, outcomes, strict=True):
        by_loop.setdefault(loop, []).append((future, outcome))
    for loop, answers in by_loop.items():
        loop.call_soon_threadsafe(_settle, answers)


def _settle(answers: list[_Answer]) -> None:
    for future, outcome in answers:
        if future.done():
            continue
        if isinstance(outcome, Exception):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
