"""One running platform: workspace, store, inbox, pipeline and connectors, run together."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import structlog

from stadsnav.connectors.base import Connector, connector_for
from stadsnav.metrics import Metrics
from stadsnav.notify import Notifier
from stadsnav.pipeline.inbox import InboxWriter
from stadsnav.pipeline.processor import Processor
from stadsnav.pipeline.runner import PipelineRunner, PipelineWorker
from stadsnav.store.base import AttributeWrite, ContextStore
from stadsnav.store.factory import open_store
from stadsnav.workspace import Workspace

log = structlog.get_logger("stadsnav.runtime")


def seed_writes(workspace: Workspace) -> list[AttributeWrite]:
    """The workspace's seed entities (beaches ...) as latest-only attribute writes."""
    writes = []
    for entity in workspace.entities:
        for name, value in entity.attributes().items():
            writes.append(
                AttributeWrite(entity.id, entity.type, name, {"type": "Property", "value": value})
            )
        if entity.location is not None:
            point = {"type": "Point", "coordinates": [entity.location.lon, entity.location.lat]}
            writes.append(
                AttributeWrite(
                    entity.id, entity.type, "location", {"type": "GeoProperty", "value": point}
                )
            )
    return writes


def changed_seeds(store: ContextStore, writes: list[AttributeWrite]) -> list[AttributeWrite]:
    """The seed writes that would change what is stored.

    Rewriting an unchanged seed would still count as a change of the entity, and subscribers
    would be told of one at every start.
    """
    ids = list(dict.fromkeys(write.entity_id for write in writes))
    stored = {entity.id: entity for entity in store.find_entities(ids=ids)} if ids else {}
    return [
        write
        for write in writes
        if (entity := stored.get(write.entity_id)) is None
        or entity.type != write.entity_type
        or entity.attributes.get(write.name) != write.attribute
    ]


@dataclass
class Runtime:
    """Everything ``stadsnav run`` runs, built from a workspace."""

    workspace: Workspace
    store: ContextStore
    metrics: Metrics = field(default_factory=Metrics)
    ingest: bool = True
    """False for an API-only process: no pipeline worker, no subscriptions."""

    def __post_init__(self) -> None:
        settings = self.workspace.settings.pipeline
        self.runner = PipelineRunner(
            self.store, Processor(self.workspace, self.store), self.metrics, settings.batch_size
        )
        self.worker = PipelineWorker(self.runner, settings.poll_interval, settings.gather_seconds)
        self.inbox = InboxWriter(
            self.store, on_commit=self.worker.wake, max_pending=settings.inbox_queue
        )
        self.metrics.inbox_queue.set_function(lambda: self.inbox.waiting)
        self.connectors: list[Connector] = [
            connector_for(integration, self.workspace, self.inbox, self.metrics)
            for integration in self.workspace.integrations.values()
        ]
        self.notifier = Notifier.of(self.workspace, self.store)

    @classmethod
    def open(
        cls, workspace: Workspace, ingest: bool = True, store: ContextStore | None = None
    ) -> Runtime:
        """Open the workspace's store (or ``store``), apply migrations, load the seed entities."""
        if store is None:
            store = open_store(workspace.storage_url)
        applied = store.migrate()
        if applied:
            log.info("migrations_applied", versions=applied)
        store.commit_batch([], changed_seeds(store, seed_writes(workspace)), [])
        return cls(workspace, store, ingest=ingest)

    async def start(self) -> None:
        """Start committing, processing and subscribing."""
        self.inbox.start()
        if self.ingest:
            self.worker.start()
            self.notifier.start()
            for connector in self.connectors:
                await connector.start()

    async def stop(self) -> None:
        """Stop taking messages, commit what was acknowledged, finish the batch, close."""
        for connector in self.connectors:
            await connector.stop()
        # Joining the threads blocks; the event loop must keep answering while they finish.
        await asyncio.to_thread(self.inbox.stop)
        if self.ingest:
            await asyncio.to_thread(self.worker.stop)
        await self.notifier.stop()
        self.store.close()
