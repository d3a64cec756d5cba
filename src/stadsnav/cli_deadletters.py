"""``stadsnav deadletters list|show|replay``: what the pipeline could not process, and why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import orjson
import typer
from pydantic import TypeAdapter, ValidationError
from rich.table import Table

from stadsnav.cli_common import WorkspaceArg, err, load_checked, open_workspace_store, out
from stadsnav.model.times import local_time, parse_time
from stadsnav.workspace import Workspace

deadletters_app = typer.Typer(
    help="Inspect and replay messages the pipeline could not process.", no_args_is_help=True
)

IntegrationOption = Annotated[str | None, typer.Option(help="Only this integration's.")]
SinceOption = Annotated[
    str | None,
    typer.Option(
        help="Only those failed since this time (2026-11-27T06:00:00Z) "
        "or this long ago (an ISO 8601 duration: PT2H, P1D)."
    ),
]


def _checked_integration(ws: Workspace, integration: str | None) -> str | None:
    if integration is not None and integration not in ws.integrations:
        err().print(
            f"no integration {integration!r} in {ws.root}; known: {sorted(ws.integrations)}"
        )
        raise typer.Exit(2)
    return integration


def _since(text: str | None) -> datetime | None:
    """A time given as RFC 3339, or as an ISO 8601 duration before now; exits 2 if neither."""
    if text is None:
        return None
    try:
        return parse_time(text)
    except ValueError:
        pass
    try:
        return datetime.now(UTC) - TypeAdapter(timedelta).validate_python(text)
    except ValidationError:
        err().print(
            f"--since {text!r} is neither a time like 2026-11-27T06:00:00Z "
            "nor a duration like PT2H or P1D"
        )
        raise typer.Exit(2) from None


@deadletters_app.command("list")
def list_command(
    workspace: WorkspaceArg,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 50,
    integration: IntegrationOption = None,
    since: SinceOption = None,
) -> None:
    """Show dead letters: when, which integration, which stage, why."""
    ws = load_checked(workspace)
    store = open_workspace_store(ws)
    try:
        letters = store.dead_letters(limit, _checked_integration(ws, integration), _since(since))
    finally:
        store.close()
    table = Table("id", "failed at", "integration", "stage", "reason", "message id")
    for letter in letters:
        table.add_row(
            str(letter.id),
            local_time(letter.failed_at, ws.settings.workspace.timezone),
            letter.source,
            letter.stage,
            letter.reason,
            letter.message_id,
        )
    out().print(table)
    out().print(f"{len(letters)} dead letter(s) shown")


@deadletters_app.command("show")
def show_command(
    workspace: WorkspaceArg,
    letter_id: Annotated[int, typer.Argument(help="The dead letter's id (from `list`).")],
) -> None:
    """Show one dead letter in full: where and when it came from, why it failed, its body."""
    ws = load_checked(workspace)
    store = open_workspace_store(ws)
    try:
        letters = store.dead_letters(1, ids=[letter_id])
    finally:
        store.close()
    if not letters:
        err().print(f"no dead letter {letter_id}; `stadsnav deadletters list` shows their ids")
        raise typer.Exit(1)
    [letter] = letters
    zone = ws.settings.workspace.timezone
    for name, value in (
        ("integration", letter.source),
        ("message id", letter.message_id),
        ("topic or URL", letter.topic or "-"),
        ("received at", local_time(letter.received_at, zone)),
        ("failed at", local_time(letter.failed_at, zone)),
        ("stage", letter.stage),
        ("reason", letter.reason),
        ("content type", letter.content_type),
        ("body bytes", str(len(letter.body))),
    ):
        out().print(f"{name + ':':14} {value}", highlight=False, markup=False)
    out().print(_shown_body(letter.body), highlight=False, markup=False)


def _shown_body(body: bytes) -> str:
    """JSON indented; other text as it is; bytes that are not UTF-8 as hex."""
    try:
        return orjson.dumps(orjson.loads(body), option=orjson.OPT_INDENT_2).decode()
    except orjson.JSONDecodeError:
        pass
    try:
        return body.decode()
    except UnicodeDecodeError:
        return f"(not UTF-8; hex) {body.hex()}"


@deadletters_app.command("replay")
def replay_command(
    workspace: WorkspaceArg,
    ids: Annotated[
        list[int] | None, typer.Argument(help="Dead letter ids; none means all.")
    ] = None,
    integration: IntegrationOption = None,
    since: SinceOption = None,
) -> None:
    """Put dead letters back in the inbox (after fixing their cause) and process them now.

    Replaying twice stores nothing twice: a replayed message that fails again is a new dead
    letter, one that succeeds writes values already keyed by their observation time.
    """
    from stadsnav.metrics import Metrics
    from stadsnav.pipeline.processor import Processor
    from stadsnav.pipeline.runner import BatchResult, PipelineRunner

    ws = load_checked(workspace)
    source, failed_since = _checked_integration(ws, integration), _since(since)
    store = open_workspace_store(ws)
    try:
        moved = store.replay_dead_letters(ids or None, source, failed_since)
        # Tried once: the operator replays on purpose and hears at once what still fails,
        # which stays a dead letter to replay again.
        runner = PipelineRunner(
            store, Processor(ws, store), Metrics(), ws.settings.pipeline.batch_size, max_attempts=1
        )
        result = BatchResult()
        for start in range(0, len(moved), runner.batch_size):
            result.add(runner.process(moved[start : start + runner.batch_size]))
    finally:
        store.close()
    out().print(
        f"replayed {len(moved)} message(s): {result.messages - result.dead} stored, "
        f"{result.dead} dead-lettered again"
    )
