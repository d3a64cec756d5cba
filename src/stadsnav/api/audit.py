"""What the APIs write to the audit log (stadsnav.gateway.audit): reads of personal data, before
they are answered, and, from the gate, every admin request and every refusal."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import UTC, datetime
from typing import Any, Final

import structlog
from fastapi import Request
from starlette.types import Scope

from stadsnav.api.deps import read_store
from stadsnav.api.gateway import IDENTITY, Identity
from stadsnav.api.problems import ApiError
from stadsnav.gateway.access import Access
from stadsnav.gateway.audit import ADMIN, DENIED, READ_PERSONAL, AuditEvent
from stadsnav.gateway.keys import key_id
from stadsnav.model.entity import StoredEntity
from stadsnav.store.base import ContextStore

log = structlog.get_logger("stadsnav.audit")

HIDDEN: Final = "hidden"
"""Where a route notes in the request's state that its 404 hid something the caller may not
see: a refusal, audited as one, though the caller is not told."""


def actor_of(scope: Scope) -> str:
    """Who made a request: its key's id (also of a key that is not valid), or ``anonymous``."""
    found = scope.get("state", {}).get(IDENTITY)
    if isinstance(found, Identity) and found.key is not None:
        return found.key.id
    if isinstance(found, ApiError):
        for name, value in scope["headers"]:
            if name in (b"x-api-key", b"authorization"):
                presented = key_id(value.decode("latin-1").removeprefix("Bearer ").strip())
                return f"{presented or 'unknown'} (not valid)"
    return "anonymous"


def client_of(scope: Scope) -> str | None:
    """The address a request came from."""
    client = scope.get("client")
    return str(client[0]) if client else None


def _target(scope: Scope) -> str:
    return f"{scope['method']} {scope['path']}"


async def audit_personal_reads(request: Request, entities: Iterable[StoredEntity]) -> None:
    """Record each entity of a personal dataset the request is about to answer with.

    Called before the answer leaves: if the record cannot be written, the read fails (503).
    """
    await audit_personal_types(request, ((entity.id, entity.types) for entity in entities))


async def audit_personal_types(
    request: Request, entities: Iterable[tuple[str, Collection[str]]]
) -> None:
    """As ``audit_personal_reads``, for entities given as (id, types)."""
    access: Access | None = getattr(request.state, "access", None)
    if access is None or not access.personal:
        return
    datasets: dict[str, str] = request.app.state.type_datasets
    read = [
        (entity_id, next(datasets.get(t) for t in types if t in access.personal))
        for entity_id, types in entities
        if not access.personal.isdisjoint(types)
    ]
    scope = request.scope
    who = scope.get("state", {}).get(IDENTITY)
    purpose = who.key.purpose if isinstance(who, Identity) and who.key is not None else None
    now = datetime.now(UTC)
    actor, client, target = actor_of(scope), client_of(scope), _target(scope)
    events = [
        AuditEvent(
            now,
            actor,
            READ_PERSONAL,
            target,
            subject=subject,
            dataset=dataset,
            purpose=purpose,
            client=client,
        )
        for subject, dataset in dict.fromkeys(read)
    ]
    if not events:
        return
    store: ContextStore = request.app.state.runtime.store
    try:
        await read_store(store, lambda: store.append_audit(events))
    except Exception as error:
        log.exception("audit_write_failed", events=len(events))
        raise ApiError(
            503, "personal data is answered only once its reading is recorded; try again later"
        ) from error


def gate_events(scope: Scope, status: int, now: datetime) -> list[AuditEvent]:
    """What the gate records of an answered request: an admin request, or a refusal (401,
    403, or a 404 that hid something)."""
    state: dict[str, Any] = scope.get("state", {})
    hidden = bool(state.get(HIDDEN)) and status == 404  # set as request.state.hidden
    admin = scope["path"].startswith("/admin")
    if not (admin or status in (401, 403) or hidden):
        return []
    refused = status in (401, 403) or hidden
    return [
        AuditEvent(
            now,
            actor_of(scope),
            DENIED if refused else ADMIN,
            _target(scope),
            "denied" if refused else "allowed",
            status,
            client=client_of(scope),
        )
    ]


def key_event(scope: Scope, action: str, key: str, now: datetime) -> AuditEvent:
    """The record of a key issued or revoked through the admin API."""
    return AuditEvent(now, actor_of(scope), action, key, client=client_of(scope))
