"""Prometheus metrics of one running platform, in a registry of its own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    """The counters and gauges ``/metrics`` exposes."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.messages_in = Counter(
            "stadsnav_messages_received",
            "Messages committed to the inbox, per integration.",
            ["integration"],
            registry=self.registry,
        )
        self.messages_duplicate = Counter(
            "stadsnav_messages_duplicate",
            "Messages received again with an id the inbox already held.",
            ["integration"],
            registry=self.registry,
        )
        self.messages_rejected = Counter(
            "stadsnav_messages_rejected",
            "Messages refused at the door with a 4xx, per integration and reason.",
            ["integration", "reason"],
            registry=self.registry,
        )
        self.polls = Counter(
            "stadsnav_polls",
            "HTTP poll requests, per integration and result (page, not_modified, failed).",
            ["integration", "result"],
            registry=self.registry,
        )
        self.poll_failures = Counter(
            "stadsnav_poll_failures",
            "Failed HTTP poll requests and refused pages, per integration and reason.",
            ["integration", "reason"],
            registry=self.registry,
        )
        self.messages_processed = Counter(
            "stadsnav_messages_processed",
            "Messages the pipeline stored.",
            registry=self.registry,
        )
        self.observations_stored = Counter(
            "stadsnav_observations_stored",
            "Attribute values added to the history (duplicates not counted).",
            registry=self.registry,
        )
        self.dead_letters = Counter(
            "stadsnav_dead_letters",
            "Messages sent to the dead-letter store, per stage.",
            ["stage"],
            registry=self.registry,
        )
        self.inbox_pending = Gauge(
            "stadsnav_inbox_pending",
            "Messages committed to the inbox table but not yet processed by the pipeline.",
            registry=self.registry,
        )
        self.inbox_queue = Gauge(
            "stadsnav_inbox_queue",
            "Messages received and waiting in memory for their inbox commit, their senders not "
            "yet answered (at most the inbox writer's max_pending, 10,000 by default; beyond "
            "that senders are refused with 503 and Retry-After).",
            registry=self.registry,
        )
        self.messages_deferred = Counter(
            "stadsnav_messages_deferred",
            "Messages refused with 503 and Retry-After, to be sent again, per integration and "
            "reason (full: the inbox queue is full; stalled: the store did not finish a commit "
            "in time; failed: the store refused the last commit; stopping).",
            ["integration", "reason"],
            registry=self.registry,
        )
        self.poll_paused = Gauge(
            "stadsnav_poll_paused",
            "1 while a polled integration waits for the inbox to take pages again, else 0.",
            ["integration"],
            registry=self.registry,
        )
        self.pipeline_lag = Gauge(
            "stadsnav_pipeline_lag_seconds",
            "Age of the oldest unprocessed message (0 when the inbox is empty).",
            registry=self.registry,
        )
        self.batch_seconds = Histogram(
            "stadsnav_pipeline_batch_seconds",
            "Time to process and commit one pipeline batch.",
            registry=self.registry,
        )
