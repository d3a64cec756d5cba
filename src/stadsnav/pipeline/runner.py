"""The pipeline worker: takes batches from the inbox and commits writes and dead letters."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

from stadsnav.metrics import Metrics
from stadsnav.pipeline.processor import Batch, Processor, StageError
from stadsnav.store.base import AttributeWrite, ContextStore, InboxMessage, NewDeadLetter

log = structlog.get_logger("stadsnav.pipeline")


@dataclass(slots=True)
class BatchResult:
    """What one batch did."""

    messages: int = 0
    stored: int = 0
    dead: int = 0


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
        reason,
    )


class PipelineRunner:
    """Processes the inbox in batches; one transaction per batch, so a restart resumes exactly."""

    def __init__(
        self,
        store: ContextStore,
        processor: Processor,
        metrics: Metrics,
        batch_size: int = 500,
        max_attempts: int = 5,
    ) -> None:
        self.store = store
        self.processor = processor
        self.metrics = metrics
        self.batch_size = batch_size
        self.max_attempts = max_attempts

    def run_batch(self) -> BatchResult:
        """Process up to one batch of pending messages."""
        messages = self.store.inbox_fetch(self.batch_size)
        if not messages:
            return BatchResult()
        started = time.perf_counter()
        writes: list[AttributeWrite] = []
        dead: list[NewDeadLetter] = []
        # Repeating values (a sensor's site, its radio readings) are written once per batch.
        batch = Batch()
        for message in messages:
            message_writes, letter = self._process(message, batch)
            writes.extend(message_writes)
            if letter is not None:
                dead.append(letter)
        writes += self.processor.batch_writes(batch)
        failed = len(dead)
        dead += batch.dead
        try:
            stored = self.store.commit_batch([m.id for m in messages], writes, dead)
        except Exception:
            if len(messages) > 1:
                # One bad write must not hold back the others: commit message by message.
                return self._commit_each(messages)
            if messages[0].attempts < self.max_attempts:
                raise  # perhaps the store is down: the claim runs out and it is tried again
            letter = dead_letter(
                messages[0], "store", f"not stored after {messages[0].attempts} attempts"
            )
            self.store.commit_batch([messages[0].id], [], [letter])
            dead, stored, failed = [letter], 0, 1
        self._count(len(messages) - failed, stored, dead)
        self.metrics.batch_seconds.observe(time.perf_counter() - started)
        return BatchResult(len(messages), stored, len(dead))

    def _commit_each(self, messages: list[InboxMessage]) -> BatchResult:
        result = BatchResult()
        for message in messages:
            batch = Batch()
            writes, letter = self._process(message, batch)
            writes += self.processor.batch_writes(batch)
            dead = [letter] if letter is not None else batch.dead
            whole = letter is not None
            try:
                stored = self.store.commit_batch([message.id], writes, dead)
            except Exception as error:
                log.warning("store_failed", message_id=message.message_id, error=str(error))
                dead = [dead_letter(message, "store", f"the store refused the write: {error}")]
                stored = self.store.commit_batch([message.id], [], dead)
                whole = True
            self._count(0 if whole else 1, stored, dead)
            result.messages += 1
            result.stored += stored
            result.dead += len(dead)
        return result

    def _process(
        self, message: InboxMessage, batch: Batch
    ) -> tuple[list[AttributeWrite], NewDeadLetter | None]:
        failed_records = len(batch.dead)
        try:
            return self.processor.process(message, batch), None
        except Exception as error:
            del batch.dead[failed_records:]  # the whole message is dead-lettered instead
            if isinstance(error, StageError):
                return [], dead_letter(message, error.stage, error.reason)
            # A bug in a codec or mapping must cost one message, not stall the inbox.
            log.exception("processing_crashed", message_id=message.message_id)
            return [], dead_letter(message, "internal", f"{type(error).__name__}: {error}")

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
            total.messages += result.messages
            total.stored += result.stored
            total.dead += result.dead
        return total

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
