"""Group commit into the durable inbox: a sender is answered only after its message is committed.

Back-pressure: at most ``max_pending`` messages (and ``max_pending_bytes`` of bodies) wait in
memory for their commit; beyond that, and while the store fails or stalls, senders are refused
with a ``retry_after`` rather than buffered, so nothing is held that a sender was not told of.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from stadsnav.store.base import Appended, ContextStore, NewInboxMessage

log = structlog.get_logger("stadsnav.inbox")

_Answer = tuple["asyncio.Future[Appended]", Appended | Exception]
# Senders are told no more: the store's own error may name hosts and tables; the log has it.
_FAILED = "the store could not commit the last messages"


class InboxRefusedError(Exception):
    """The inbox cannot take a message now; the sender should retry after ``retry_after`` s."""

    def __init__(self, message: str, reason: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.reason = reason
        """Why, as a metric label: full, stalled, failed or stopping."""
        self.retry_after = retry_after

    @property
    def retry_after_header(self) -> str:
        """``retry_after`` as an HTTP ``Retry-After`` value: whole seconds, at least 1."""
        return str(max(1, math.ceil(self.retry_after)))


class InboxFullError(InboxRefusedError):
    """Too many messages wait, or the store has not finished a commit for a while; room comes."""


class InboxUnavailableError(InboxRefusedError):
    """The store refused the last commit, or the platform is stopping."""

    def __init__(self, message: str, reason: str = "failed", retry_after: float = 1.0) -> None:
        super().__init__(message, reason, retry_after)


@dataclass(eq=False, slots=True)
class _Pending:
    message: NewInboxMessage
    future: asyncio.Future[Appended]
    loop: asyncio.AbstractEventLoop


class InboxWriter:
    """Commits messages from many concurrent senders in a few large transactions."""

    def __init__(
        self,
        store: ContextStore,
        on_commit: Callable[[], None] = lambda: None,
        max_pending: int = 10_000,
        max_pending_bytes: int = 256 * 1024 * 1024,
        max_group: int = 1_000,
        max_wait: float = 5.0,
        retry_delay: float = 1.0,
        max_retry_delay: float = 5.0,
    ) -> None:
        self.store = store
        self.on_commit = on_commit
        self.max_pending = max_pending
        """Most messages waiting in memory for their commit."""
        self.max_pending_bytes = max_pending_bytes
        """Most bytes of message bodies waiting in memory for their commit."""
        self.max_group = max_group
        self.max_wait = max_wait
        """Longest a sender that cannot wait (``wait=False``) is kept without an answer."""
        self.retry_delay = retry_delay
        """How long new messages are refused after a failed commit; doubled while it fails."""
        self.max_retry_delay = max_retry_delay
        self._queue: deque[_Pending] = deque()
        self._bytes = 0
        self._committing = 0
        self._commit_started: float | None = None
        self._failures = 0
        self._refuse_until = 0.0
        self._ready = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="stadsnav-inbox", daemon=True)

    @property
    def waiting(self) -> int:
        """Messages received but not yet committed: queued, or in the commit under way."""
        return len(self._queue) + self._committing

    def start(self) -> None:
        """Start the committing thread."""
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Commit what is queued, then stop."""
        with self._ready:
            self._stopping = True
            self._ready.notify()
        self._thread.join(timeout)

    def refusal(self) -> InboxRefusedError | None:
        """The error a message submitted now would get, or None if it would be queued."""
        return self._unavailable() or self._stalled() or self._full()

    async def submit(self, message: NewInboxMessage, wait: bool = False) -> Appended:
        """Commit one message; what became of it (its inbox id, a duplicate or a conflict).

        Raises ``InboxFullError`` when the queue is full or the store stalls, and
        ``InboxUnavailableError`` when the store failed or the platform stops. With ``wait`` the
        sender waits out a full queue or a stall, and for its commit however long that takes;
        without it, a sender is answered within ``max_wait`` seconds.
        """
        while (refusal := self.refusal()) is not None:
            if not wait or isinstance(refusal, InboxUnavailableError):
                raise refusal
            await asyncio.sleep(0.05)
        loop = asyncio.get_running_loop()
        entry = _Pending(message, loop.create_future(), loop)
        with self._ready:
            # Checked under the lock: after stop() the writer may be gone and would never answer.
            if self._stopping or not self._thread.is_alive():
                raise InboxUnavailableError("the platform is shutting down", "stopping")
            self._queue.append(entry)
            self._bytes += len(message.body)
            self._ready.notify()
        try:
            async with asyncio.timeout(None if wait else self.max_wait):
                return await entry.future
        except TimeoutError:
            raise InboxFullError(
                f"the store did not commit within {self.max_wait:g} s", "stalled"
            ) from None
        finally:
            if entry.future.cancelled():
                self._withdraw(entry)

    def _full(self) -> InboxFullError | None:
        count, size = self.waiting, self._bytes
        if count < self.max_pending and size < self.max_pending_bytes:
            return None
        return InboxFullError(f"{count} messages ({size} bytes) are waiting for the store", "full")

    def _unavailable(self) -> InboxUnavailableError | None:
        if self._stopping:
            return InboxUnavailableError("the platform is shutting down", "stopping")
        remaining = self._refuse_until - time.monotonic()
        if remaining <= 0:
            return None
        return InboxUnavailableError(_FAILED, "failed", remaining)

    def _stalled(self) -> InboxFullError | None:
        started = self._commit_started
        if started is None or time.monotonic() - started <= self.max_wait:
            return None
        return InboxFullError(
            f"the store has not finished a commit for {time.monotonic() - started:.0f} s",
            "stalled",
        )

    def _withdraw(self, entry: _Pending) -> None:
        # A sender that gave up is not committed behind its back, unless its commit has begun.
        with self._ready:
            try:
                self._queue.remove(entry)
            except ValueError:
                return
            self._bytes -= len(entry.message.body)

    def _loop(self) -> None:
        while True:
            with self._ready:
                while not self._queue and not self._stopping:
                    self._ready.wait()
                if not self._queue:
                    return
                group = self._take(min(self.max_group, len(self._queue)))
                self._commit_started = time.monotonic()
            try:
                self._commit(group)
            except Exception:
                # The writer must outlive any failure, or every later sender would wait forever.
                log.exception("inbox_writer_failed", messages=len(group))
            finally:
                with self._ready:
                    self._committing, self._commit_started = 0, None
                    self._bytes -= sum(len(entry.message.body) for entry in group)

    def _take(self, count: int) -> list[_Pending]:
        """Move messages from the queue into the commit (called under the lock)."""
        group = [self._queue.popleft() for _ in range(count)]
        self._committing += count
        return group

    def _commit(self, group: list[_Pending]) -> None:
        try:
            ids = self.store.inbox_append([entry.message for entry in group])
        except Exception as error:
            self._fail(group, error)
            return
        if self._failures:
            log.info("inbox_commit_recovered", failures=self._failures)
        self._failures = 0
        try:
            self.on_commit()
        finally:
            _answer(group, list(ids))

    def _fail(self, group: list[_Pending], error: Exception) -> None:
        """Refuse new messages for a while, and answer this group and every queued message."""
        self._failures += 1
        # The exponent is capped: a long outage must not overflow the float.
        delay = min(self.retry_delay * 2 ** min(self._failures - 1, 30), self.max_retry_delay)
        with self._ready:
            self._refuse_until = time.monotonic() + delay
            # Queued messages would meet the same store; their senders hear it now.
            group += self._take(len(self._queue))
        log.error("inbox_commit_failed", error=str(error), messages=len(group), refuse_for=delay)
        failure = InboxUnavailableError(_FAILED, "failed", delay)
        _answer(group, [failure] * len(group))


def _answer(group: list[_Pending], outcomes: list[Appended | Exception]) -> None:
    # One wake-up per event loop and group rather than per message: each
    # call_soon_threadsafe writes to the loop's self-pipe.
    by_loop: dict[asyncio.AbstractEventLoop, list[_Answer]] = {}
    for entry, outcome in zip(group, outcomes, strict=True):
        by_loop.setdefault(entry.loop, []).append((entry.future, outcome))
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
