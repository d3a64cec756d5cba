"""The connector base class and the registry of connector types."""

from __future__ import annotations

from functools import cached_property
from typing import Any, ClassVar

import structlog
from fastapi import APIRouter

from stadsnav.metrics import Metrics
from stadsnav.pipeline.inbox import InboxWriter
from stadsnav.store.base import Appended
from stadsnav.workspace import Integration, Workspace

log = structlog.get_logger("stadsnav.connectors")


class Connector:
    """Receives messages for one integration and commits them to the inbox.

    A push connector (webhook) contributes routes; a pull or subscribe connector (MQTT)
    runs between ``start`` and ``stop``.
    """

    type: ClassVar[str]

    def __init__(
        self, integration: Integration, workspace: Workspace, inbox: InboxWriter, metrics: Metrics
    ) -> None:
        self.integration = integration
        self.workspace = workspace
        self.inbox = inbox
        self.metrics = metrics

    def count_received(self, outcome: Appended) -> None:
        """Count one message taken in: new, a duplicate, or a conflict (then also log it)."""
        if isinstance(outcome, int):
            self._received[0].inc()
        elif outcome == "duplicate":
            self._received[1].inc()
        else:
            self.metrics.dead_letters.labels("conflict").inc()
            log.warning("message_id_conflict", integration=self.integration.id)

    @cached_property
    def _received(self) -> tuple[Any, Any]:
        # A labelled child is looked up under a lock; the two hot ones are looked up once.
        integration = self.integration.id
        return (
            self.metrics.messages_in.labels(integration),
            self.metrics.messages_duplicate.labels(integration),
        )

    def router(self) -> APIRouter | None:
        """Routes this connector serves, if any."""
        return None

    async def start(self) -> None:
        """Begin receiving."""

    async def stop(self) -> None:
        """Stop receiving; everything acknowledged so far is committed."""

    def status(self) -> dict[str, Any]:
        """What ``/healthz`` reports about this connector."""
        return {"type": self.type, "integration": self.integration.id}


_TYPES: dict[str, type[Connector]] = {}


def register(cls: type[Connector]) -> type[Connector]:
    """Class decorator: make a connector type available to ``source.type`` in integrations."""
    _TYPES[cls.type] = cls
    return cls


def connector_for(
    integration: Integration, workspace: Workspace, inbox: InboxWriter, metrics: Metrics
) -> Connector:
    """The connector that serves an integration's source."""
    # Importing here registers the built-in connectors without an import cycle.
    from stadsnav.connectors import http_poll, mqtt, webhook  # noqa: F401

    cls = _TYPES[integration.source.type]
    return cls(integration, workspace, inbox, metrics)
