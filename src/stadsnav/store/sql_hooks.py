"""What the SqlStore mixins use of SqlStore: its transaction, query and conversion hooks."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from stadsnav.gateway.audit import AuditEvent, AuditRecord


class SqlHooks(ABC):
    """The hooks SqlStore implements; a mixin of store methods inherits them from here."""

    dialect: ClassVar[str]

    @abstractmethod
    def _write(self) -> AbstractContextManager[Any]:
        """A write transaction; yields a cursor."""

    @abstractmethod
    def _query(self, query: str, params: Sequence[Any] = ()) -> list[Any]:
        """The rows of a read query."""

    @abstractmethod
    def sql(self, query: str) -> str:
        """The query with ``?`` placeholders in the driver's style."""

    @abstractmethod
    def time_in(self, value: datetime) -> Any:
        """A datetime as the database stores it."""

    @abstractmethod
    def _time_out(self, value: Any) -> datetime:
        """A stored time as an aware UTC datetime."""

    @abstractmethod
    def _lock_audit(self, cursor: Any) -> None:
        """Serialize appends to the audit log until the transaction ends."""

    @abstractmethod
    def _append_audit(self, cursor: Any, events: Sequence[AuditEvent]) -> list[AuditRecord]:
        """Append events to the audit chain in the transaction of ``cursor``."""

    @abstractmethod
    def _in_list(self, column: str) -> str:
        """A condition: ``column`` is in the list given as one parameter."""

    @abstractmethod
    def _list_param(self, values: Sequence[Any]) -> Any:
        """The one parameter for ``_in_list``."""
