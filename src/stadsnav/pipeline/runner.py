"""The pipeline worker: takes batches from the inbox and commits writes and dead letters."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog

from stadsnav.metrics import Metrics
from stadsnav.pipeline.processor import Batch, Processor, StageError, printable
from stadsnav.store.base import AttributeWrite, ContextStore, InboxMessage, NewDeadLetter

log = structlog.get_logger("stadsnav.pipeline")


@dataclass(slots=True)
class BatchResult:
    """What one batch did."""

    messages: int = 0
    stored: int = 0
    dead: int = 0

    def add(self, other: BatchResult) -> None:
        """Count ``other`` in too."""
        self.messages += other.messages
        self.stored += other.stored
        self.dead += other.dead


def dead_letter(message: InboxMessage, stage: str, reason: str) -> NewDeadLetter:
    """The dead letter for a message that failed at ``stage``."""
    return NewDeadLetter(
        message.source,
        message.message_id,
        message.received_at,
        message.content_type,
        message.body,
        message.topic,
        stage,
        printable(reason),  # a reason may quote the message, and stores cannot keep NUL
    )


_RETRIED_STAGES = frozenset({"map"})
"""Stages whose failures are tried again before the message is dead-lettered."""
MAX_RETRY_WAIT = timedelta(hours=1)
"""The longest wait before a crashed message is tried again, however many times it failed."""


@dataclass(slots=True)
class _Outcome:
    """What a batch's messages came to: writes, dead letters, and messages to retry later."""

    done: list[int] = field(default_factory=list)
    writes: list[AttributeWrite] = field(default_factory=list)
    dead: list[NewDeadLetter] = field(default_factory=list)
    retry: list[tuple[int, datetime]] = field(default_factory=list)

    def add(
        self, message: InboxMessage, result: list[AttributeWrite] | NewDeadLetter | datetime
    ) -> None:
        """Take in one message's result."""
        if isinstance(result, datetime):
            self.retry.append((message.id, result))
            return
        self.done.append(message.id)
        if isinstance(result, NewDeadLetter):
            self.dead.append(result)
        else:
            self.writes += result


class PipelineRunner:
    """Processes the inbox in batches; one transaction per batch, so a restart resumes exactly."""

    def __init__(
        self,
        store: ContextStore,
        processor: Processor,
        metrics: Metrics,
        batch_size: int = 500,
        max_attempts: int | None = None,
    ) -> None:
        settings = processor.workspace.settings.pipeline
        self.store = store
        self.processor = processor
        self.metrics = metrics
        self.batch_size = batch_size
        self.max_attempts = settings.max_attempts if max_attempts is None else max_attempts
        self.retry_backoff = settings.retry_backoff
        self.dedupe_window = settings.dedupe_window
        self._forgotten_at = 0.0
        self._store_checked = False

    def run_batch(self) -> BatchResult:
        """Process up to one batch of pending messages."""
        return self.process(self.store.inbox_fetch(self.batch_size))

    def process(self, messages: list[InboxMessage]) -> BatchResult:
        """Process messages this worker has claimed, in one transaction if the store takes it."""
        if not messages:
            return BatchResult()
        started = time.perf_counter()
        self._store_checked = False
        # Repeating values (a sensor's site, its radio readings) are written once per batch.
        batch = Batch()
        outcome = _Outcome()
        for message in messages:
            outcome.add(message, self._process(message, batch))
        outcome.writes += self.processor.batch_writes(batch)
        failed = len(outcome.dead) + len(outcome.retry)
        outcome.dead += batch.dead
        try:
            stored = self.store.commit_batch(
                outcome.done, outcome.writes, outcome.dead, outcome.retry
            )
        except Exception:
            if len(messages) > 1:
                # One bad write must not hold back the others: commit message by message.
                return self._commit_each(messages)
            if messages[0].attempts < self.max_attempts or not self._store_answers():
                raise  # perhaps the store is down: the claim runs out and it is tried again
            letter = dead_letter(
                messages[0], "store", f"not stored after {messages[0].attempts} attempts"
            )
            self.store.commit_batch([messages[0].id], [], [letter])
            outcome.dead, stored, failed = [letter], 0, 1
        self._count(len(messages) - failed, stored, outcome.dead)
        self.metrics.batch_seconds.observe(time.perf_counter() - started)
        return BatchResult(len(messages), stored, len(outcome.dead))

    def _commit_each(self, messages: list[InboxMessage]) -> BatchResult:
        result = BatchResult()
        for message in messages:
            batch = Batch()
            outcome = _Outcome()
            outcome.add(message, self._process(message, batch))
            # Whole: the message failed or waits for a retry, rather than some of its records.
            whole = bool(outcome.retry) or (not outcome.writes and bool(outcome.dead))
            if outcome.done:
                outcome.writes += self.processor.batch_writes(batch)
                outcome.dead += batch.dead
            try:
                stored = self.store.commit_batch(
                    outcome.done, outcome.writes, outcome.dead, outcome.retry
                )
            except Exception as error:
                if not self._store_answers():
                    raise  # the store is down, not this message's write
                log.warning("store_failed", message_id=message.message_id, error=str(error))
                outcome.dead = [
                    dead_letter(message, "store", f"the store refused the write: {error}")
                ]
                stored = self.store.commit_batch([message.id], [], outcome.dead)
                whole = True
            self._count(0 if whole else 1, stored, outcome.dead)
            result.messages += 1
            result.stored += stored
            result.dead += len(outcome.dead)
        return result

    def _process(
        self, message: InboxMessage, batch: Batch
    ) -> list[AttributeWrite] | NewDeadLetter | datetime:
        """The message's writes; its dead letter; or, after a failure, when to try it again.

        A poison message must neither block the inbox nor be given up at its first failure: a
        mapping failure or a crash (a codec that timed out under load, a bug hit by one worker's
        state) is tried again with a doubling wait, ``max_attempts`` times in all, then
        dead-lettered. Other verdicts on the data (not an envelope, an unknown device, an
        undecodable payload, a value or time a rule rejects) are dead-lettered at once: nothing
        in the platform changes them until the workspace is fixed and they are replayed.
        """
        failed_records = len(batch.dead)
        try:
            return self.processor.process(message, batch)
        except Exception as error:
            del batch.dead[failed_records:]  # the whole message is dead-lettered instead
            if isinstance(error, StageError):
                if error.stage not in _RETRIED_STAGES or message.attempts >= self.max_attempts:
                    return dead_letter(message, error.stage, error.reason)
                return self._retry_at(message)
            if not self._store_answers():
                raise  # the store failed, not the message: the batch waits for the store
            # A bug in a codec or mapping must cost one message, not stall the inbox.
            log.exception(
                "processing_crashed", message_id=message.message_id, attempt=message.attempts
            )
            if message.attempts < self.max_attempts:
                return self._retry_at(message)
            return dead_letter(
                message,
                "internal",
                f"{type(error).__name__}: {error} (failed {message.attempts} times)",
            )

    def _retry_at(self, message: InboxMessage) -> datetime:
        """When a failed message is tried again: the backoff, doubled for each attempt."""
        wait = self.retry_backoff * (1 << min(message.attempts - 1, 20))
        return datetime.now(UTC) + min(wait, MAX_RETRY_WAIT)

    def _store_answers(self) -> bool:
        """Whether the store answers a cheap question; asked once per batch."""
        if not self._store_checked:
            try:
                self.store.schema_version()
            except Exception:
                return False
            self._store_checked = True
        return True

    def _count(self, processed: int, stored: int, dead: list[NewDeadLetter]) -> None:
        """Count messages processed (not dead-lettered whole), values stored, dead letters."""
        self.metrics.messages_processed.inc(processed)
        self.metrics.observations_stored.inc(stored)
        for letter in dead:
            self.metrics.dead_letters.labels(letter.stage).inc()
            log.info(
                "dead_letter",
                integration=letter.source,
                message_id=letter.message_id,
                stage=letter.stage,
                reason=letter.reason,
            )

    def drain(self) -> BatchResult:
        """Process until the inbox is empty (for the CLI and tests)."""
        total = BatchResult()
        while (result := self.run_batch()).messages:
            total.add(result)
        return total

    def forget_old_ids(self, every: float = 60.0) -> None:
        """Forget message ids older than the dedupe window, at most once per ``every`` seconds."""
        if time.monotonic() - self._forgotten_at < every:
            return
        self._forgotten_at = time.monotonic()
        forgotten = self.store.forget_messages(datetime.now(UTC) - self.dedupe_window)
        if forgotten:
            log.info("message_ids_forgotten", count=forgotten)

    def update_gauges(self) -> None:
        """Refresh the inbox depth and lag gauges."""
        pending, oldest = self.store.inbox_stats()
        self.metrics.inbox_pending.set(pending)
        lag = (datetime.now(UTC) - oldest).total_seconds() if oldest else 0.0
        self.metrics.pipeline_lag.set(max(lag, 0.0))


class PipelineWorker:
    """Runs a ``PipelineRunner`` in a thread until stopped, woken early by new messages."""

    def __init__(
        self, runner: PipelineRunner, poll_interval: float = 0.2, gather_seconds: float = 0.0
    ) -> None:
        self.runner = runner
        self.poll_interval = poll_interval
        self.gather_seconds = gather_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="stadsnav-pipeline", daemon=True)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def wake(self) -> None:
        """Tell the worker new messages are waiting (thread-safe)."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the current batch and stop."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    def _loop(self) -> None:
        backoff = self.poll_interval
        while not self._stop.is_set():
            try:
                result = self.runner.run_batch()
                self.runner.update_gauges()
                self.runner.forget_old_ids()
                backoff = self.poll_interval
            except Exception as error:
                log.error("pipeline_batch_failed", error=str(error), retry_in=backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            if result.messages < self.runner.batch_size:
                woken = self._wake.wait(self.poll_interval)
                self._wake.clear()
                # Under load every inbox commit wakes the worker; a batch of a few dozen
                # messages costs nearly as much in transactions and GIL hand-offs as a full one.
                if woken and self.gather_seconds:
                    self._stop.wait(self.gather_seconds)
