"""``stadsnav usage``: which data is used, and by whom, from the usage in the store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

import orjson
import typer
from pydantic import TypeAdapter, ValidationError
from rich.table import Table
from rich.text import Text

from stadsnav.cli_common import WorkspaceArg, err, load_checked, open_workspace_store, out
from stadsnav.gateway.usage import USAGE_BY, usage_report


def usage(
    workspace: WorkspaceArg,
    since: Annotated[
        str, typer.Option(help="How far back: an ISO 8601 duration (P7D, PT6H).")
    ] = "P1D",
    by: Annotated[
        str, typer.Option(help=f"Sum by these, comma-separated: {', '.join(USAGE_BY)}.")
    ] = "key,endpoint",
    key: Annotated[str | None, typer.Option(help="Only this key's id.")] = None,
    dataset: Annotated[str | None, typer.Option(help="Only this dataset.")] = None,
    json: Annotated[bool, typer.Option("--json", help="One JSON array, for scripts.")] = False,
) -> None:
    """Requests, errors, refusals and latency of the APIs, summed as asked.

    API processes write their counts to the store every ``gateway.usage_flush`` seconds, so
    the last few seconds may be missing.
    """
    ws = load_checked(workspace)
    try:
        back = TypeAdapter(timedelta).validate_python(since)
    except ValidationError:
        err().print(f"--since {since!r} is not a duration like P7D or PT6H")
        raise typer.Exit(2) from None
    now = datetime.now(UTC)
    start = (now - back).replace(minute=0, second=0, microsecond=0)
    groups = [group.strip() for group in by.split(",") if group.strip()]
    store = open_workspace_store(ws)
    try:
        zone = ZoneInfo(ws.settings.workspace.timezone)
        rows = usage_report(store, start, now, groups, zone, key, dataset)
    except ValueError as error:
        err().print(str(error))
        raise typer.Exit(2) from None
    finally:
        store.close()
    if json:
        print(orjson.dumps(rows).decode())
        return
    if not rows:
        out().print(f"no API requests counted since {start:%Y-%m-%d %H:00} UTC")
        return
    table = Table(*rows[0].keys())
    for row in rows:
        table.add_row(*(Text(str(value)) for value in row.values()))
    out().print(table)
