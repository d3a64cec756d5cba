"""``stadsnav keys create|list|revoke``: the API keys of a workspace's platform."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import Annotated, Final

import typer
from pydantic import TypeAdapter, ValidationError
from rich.table import Table
from rich.text import Text

from stadsnav.cli_audit import cli_actor
from stadsnav.cli_common import WorkspaceArg, err, load_checked, open_workspace_store, out
from stadsnav.gateway.access import personal_scopes
from stadsnav.gateway.audit import KEY_CREATED, KEY_REVOKED, AuditEvent
from stadsnav.gateway.keys import ApiKey, InvalidKeyError, new_key, secret_hash
from stadsnav.model.times import local_time
from stadsnav.workspace import Workspace

keys_app = typer.Typer(help="Issue, list and revoke API keys.", no_args_is_help=True)


def _expiry(text: str | None, now: datetime) -> datetime | None:
    """``--expires`` as an ISO 8601 duration from now; exits 2 when it is not one."""
    if text is None:
        return None
    try:
        return now + TypeAdapter(timedelta).validate_python(text)
    except ValidationError:
        err().print(f"--expires {text!r} is not a duration like P90D or PT12H")
        raise typer.Exit(2) from None


@keys_app.command("create")
def create_command(
    workspace: WorkspaceArg,
    owner: Annotated[str, typer.Option(help="Who holds the key and answers for its use.")],
    scope: Annotated[
        list[str],
        typer.Option(help="admin, read or write, alone or for a dataset (read:parking); repeat."),
    ],
    expires: Annotated[
        str | None, typer.Option(help="How long it is valid: P90D, PT12H (default: until revoked).")
    ] = None,
    purpose: Annotated[str | None, typer.Option(help="Why it reads personal data.")] = None,
    plan: Annotated[
        str | None, typer.Option(help="Its plan (default: the workspace's gateway.key_plan).")
    ] = None,
    notify_url: Annotated[
        str | None, typer.Option(help="Where its owner is told that a quota is nearly used.")
    ] = None,
) -> None:
    """Issue a key and print it: this is the only time its text is shown."""
    ws = load_checked(workspace)
    now = datetime.now(UTC)
    reads_personal = [s for s in personal_scopes(scope, ws) if s.startswith(("read:", "identify:"))]
    if reads_personal and not purpose:
        err().print(
            f"{', '.join(reads_personal)} opens personal data only to a key with a purpose: "
            "give --purpose (why the holder reads it; recorded with each read)"
        )
        raise typer.Exit(2)
    try:
        key, text = new_key(
            owner,
            scope,
            now,
            expires_at=_expiry(expires, now),
            purpose=purpose,
            plan=plan,
            notify_url=notify_url,
            plans=ws.settings.gateway.plans,
        )
    except InvalidKeyError as error:
        err().print(str(error))
        raise typer.Exit(2) from None
    store = open_workspace_store(ws)
    try:
        store.add_api_key(key, secret_hash(text), AuditEvent(now, cli_actor(), KEY_CREATED, key.id))
    finally:
        store.close()
    # Plain text: rich would read "write:parking:" as an emoji code and "[..]" as markup. Only
    # the key goes to standard output, so a script can capture it.
    print(f"key {key.id} for {key.owner}, scopes {', '.join(key.scopes)}:", file=sys.stderr)
    print(text)
    err().print("Store it now: Stadsnav keeps only its hash and cannot show it again.")


@keys_app.command("list")
def list_command(workspace: WorkspaceArg) -> None:
    """Show every key: id, owner, scopes, status, times. Never a key's text."""
    ws = load_checked(workspace)
    store = open_workspace_store(ws)
    try:
        keys = store.api_keys()
    finally:
        store.close()
    now, zone = datetime.now(UTC), ws.settings.workspace.timezone
    table = Table("id", "owner", "scopes", "plan", "status", "created", "expires")
    default_plan = ws.settings.gateway.key_plan
    for key in keys:
        expires = "" if key.expires_at is None else local_time(key.expires_at, zone)
        cells = [key.id, key.owner, ", ".join(key.scopes), key.plan or default_plan]
        cells += [key.status(now)]
        cells += [local_time(key.created_at, zone), expires]
        table.add_row(*(Text(cell) for cell in cells))
    out().print(table)


@keys_app.command("revoke")
def revoke_command(
    workspace: WorkspaceArg, key_id: Annotated[str, typer.Argument(help="The key's id.")]
) -> None:
    """Revoke a key from now on."""
    ws = load_checked(workspace)
    store = open_workspace_store(ws)
    now = datetime.now(UTC)
    try:
        key = store.revoke_api_key(key_id, now, AuditEvent(now, cli_actor(), KEY_REVOKED, key_id))
    finally:
        store.close()
    if key is None:
        err().print(f"there is no API key {key_id!r}; `stadsnav keys list` shows them")
        raise typer.Exit(1)
    print(f"key {key.id} of {key.owner} is revoked")


DEMO: Final = "stadsnav demo"
"""The actor ``stadsnav demo``'s key actions are recorded under in the audit log."""
DEMO_KEYS = (
    ("Demo: the city's internal app", ["read", "write"], "internal"),
    ("Demo: a partner, the parking operator", ["read:parking", "write:parking"], "partner"),
)
"""Who ``stadsnav demo`` issues keys to, with which scopes and on which plan."""


def issue_demo_keys(ws: Workspace) -> list[tuple[ApiKey, str]]:
    """Revoke the demo keys of an earlier start and issue new ones: their text is shown only
    when issued, and a demo prints it."""
    now = datetime.now(UTC)
    owners = {owner for owner, _, _ in DEMO_KEYS}
    store = open_workspace_store(ws)
    try:
        for key in store.api_keys():
            if key.owner in owners and key.status(now) == "active":
                store.revoke_api_key(key.id, now, AuditEvent(now, DEMO, KEY_REVOKED, key.id))
        plans = ws.settings.gateway.plans
        issued = [
            new_key(owner, scopes, now, plan=plan if plan in plans else None, plans=plans)
            for owner, scopes, plan in DEMO_KEYS
        ]
        for key, text in issued:
            store.add_api_key(key, secret_hash(text), AuditEvent(now, DEMO, KEY_CREATED, key.id))
    finally:
        store.close()
    return issued
