"""``stadsnav audit``: read the audit log and check that its chain holds."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime, timedelta
from typing import Annotated

import orjson
import typer
from pydantic import TypeAdapter, ValidationError
from rich.table import Table
from rich.text import Text

from stadsnav.cli_common import WorkspaceArg, err, load_checked, open_workspace_store, out
from stadsnav.gateway.audit import GENESIS, first_break
from stadsnav.model.times import local_time
from stadsnav.store.base import ContextStore

VERIFY_BATCH = 10_000


def cli_actor() -> str:
    """Who acts from the command line, as the audit log names them."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name for this uid (a container)
        return "cli"


def audit(
    workspace: WorkspaceArg,
    since: Annotated[str, typer.Option(help="How far back: an ISO 8601 duration (P7D).")] = "P7D",
    actor: Annotated[str | None, typer.Option(help="Only this key id (or anonymous).")] = None,
    action: Annotated[
        str | None,
        typer.Option(help="Only read-personal, admin, key-created, key-revoked or denied."),
    ] = None,
    subject: Annotated[str | None, typer.Option(help="Only reads of this pseudonym.")] = None,
    limit: Annotated[int, typer.Option(help="Most records shown.", min=1)] = 1000,
    json: Annotated[bool, typer.Option("--json", help="One JSON array, for scripts.")] = False,
    verify: Annotated[
        bool, typer.Option("--verify", help="Check the whole chain instead; exit 1 if broken.")
    ] = False,
) -> None:
    """Show who read personal data, who administered and who was refused, oldest first."""
    ws = load_checked(workspace)
    store = open_workspace_store(ws)
    try:
        if verify:
            _verify(store)
            return
        try:
            back = TypeAdapter(timedelta).validate_python(since)
        except ValidationError:
            err().print(f"--since {since!r} is not a duration like P7D or PT6H")
            raise typer.Exit(2) from None
        records = store.audit_records(
            since=datetime.now(UTC) - back,
            actor=actor,
            action=action,
            subject=subject,
            limit=limit,
        )
    finally:
        store.close()
    if json:
        print(orjson.dumps([record.as_json() for record in records]).decode())
        return
    if not records:
        out().print("no audit records match")
        return
    zone = ws.settings.workspace.timezone
    columns = ["seq", "at", "actor", "action", "target", "outcome", "status"]
    columns += ["subject", "dataset", "purpose", "client"]
    rows = []
    for record in records:
        event = record.event
        cells = [str(record.seq), local_time(event.at, zone), event.actor, event.action]
        cells += [event.target, event.outcome, "" if event.status is None else str(event.status)]
        cells += [event.subject or "", event.dataset or "", event.purpose or "", event.client or ""]
        rows.append(cells)
    # A column empty in every row shown (no personal reads: no subject) only takes room.
    shown = [i for i, _ in enumerate(columns) if any(row[i] for row in rows)]
    table = Table(*(columns[i] for i in shown))
    for cells in rows:
        table.add_row(*(Text(cells[i]) for i in shown))
    out().print(table)


def _verify(store: ContextStore) -> None:
    seq, previous = 0, GENESIS
    while True:
        batch = store.audit_records(after=seq, limit=VERIFY_BATCH)
        broken = first_break(batch, seq, previous)
        if broken is not None:
            err().print(
                f"[red]the audit chain is broken at record {broken.seq}[/]: {broken.reason}"
            )
            raise typer.Exit(1)
        if not batch:
            break
        seq, previous = batch[-1].seq, batch[-1].hash
        if seq % (10 * VERIFY_BATCH) == 0:
            err().print(f"{seq:,} records checked …")
    out().print(f"the audit chain holds: {seq:,} records; the last is {seq}, hash {previous}")
