"""``stadsnav codecs import|test|list`` and ``stadsnav decode``: JavaScript codecs from the CLI."""

from __future__ import annotations

import base64
import binascii
from difflib import get_close_matches
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.progress import Progress
from rich.table import Table

from stadsnav.cli_common import WorkspaceArg, err, out
from stadsnav.codecs.base import Codec
from stadsnav.codecs.registry import UnknownCodecError, codec_ids, get_codec
from stadsnav.codecs.repository import (
    CODECS_FOLDER,
    CodecFileError,
    CodecSpec,
    ExampleResult,
    ImportedCodec,
    codec_files,
    import_codecs,
    run_examples,
    workspace_codec_ids,
    workspace_codec_specs,
)
from stadsnav.workspace.files import SETTINGS_FILE

codecs_app = typer.Typer(
    help="Import, test and list device payload codecs (TTN device repository layout).",
    no_args_is_help=True,
)

OptionalWorkspace = Annotated[
    Path | None, typer.Option(help="Workspace with imported codecs (default: current folder).")
]


def _default_workspace(workspace: Path | None) -> Path | None:
    if workspace is not None:
        return workspace
    return Path.cwd() if (Path.cwd() / SETTINGS_FILE).is_file() else None


@codecs_app.command("import")
def import_command(
    src: Annotated[Path, typer.Argument(help="Checkout of the TTN device repository.")],
    workspace: WorkspaceArg,
) -> None:
    """Copy every codec (YAML + script) of a device repository into WORKSPACE/codecs."""
    total = len(codec_files(src / "vendor"))
    if not total:
        err().print(f"[red]{src}: no vendor/<vendor>/<model>-codec.yaml files[/]")
        raise typer.Exit(2)
    with Progress(console=err(), transient=True) as progress:
        task = progress.add_task("importing codecs", total=total)

        def advance(codec: ImportedCodec) -> None:
            progress.update(task, advance=1, description=codec.id)

        imported = import_codecs(src, workspace, advance)
    for skipped in (codec for codec in imported if not codec.ok):
        err().print(f"[yellow]skipped[/] {skipped.id}: {skipped.problem}", highlight=False)
    done = [codec for codec in imported if codec.ok]
    examples = sum(codec.examples for codec in done)
    out().print(
        f"imported {len(done)} codec(s) with {examples} example(s) into "
        f"{workspace / CODECS_FOLDER}; {len(imported) - len(done)} skipped",
        highlight=False,
    )


@codecs_app.command("test")
def examples_command(
    workspace: WorkspaceArg,
    codec_id: Annotated[str | None, typer.Argument(metavar="ID", help="Only this codec.")] = None,
) -> None:
    """Run the examples of the workspace's imported codecs; exit 1 on any failure."""
    specs = list(workspace_codec_specs(workspace))
    if codec_id is not None:
        specs = [s for s in specs if isinstance(s, CodecSpec) and s.id == codec_id]
        if not specs:
            err().print(f"[red]no imported codec {codec_id!r} in {workspace}[/]")
            raise typer.Exit(2)
    table = Table("codec", "example", "result", "difference")
    failures = passes = 0
    for spec in specs:
        if isinstance(spec, CodecFileError):
            table.add_row("", str(spec), "[red]FAIL[/]", "unusable codec file")
            failures += 1
            continue
        for result in _run(spec):
            passes += result.passed
            failures += not result.passed
            verdict = "[green]pass[/]" if result.passed else "[red]FAIL[/]"
            table.add_row(result.codec_id, result.description, verdict, "\n".join(result.diff))
    out().print(table)
    out().print(f"{passes} passed, {failures} failed", highlight=False)
    if failures:
        raise typer.Exit(1)


def _run(spec: CodecSpec) -> list[ExampleResult]:
    with spec.codec() as codec:
        return run_examples(codec, spec.examples)


@codecs_app.command("list")
def list_command(
    workspace: Annotated[
        Path | None, typer.Argument(help="Workspace (default: current folder).")
    ] = None,
) -> None:
    """Show the built-in codec ids and those imported into the workspace."""
    table = Table("id", "kind")
    for native in codec_ids():
        table.add_row(native, "native")
    folder = _default_workspace(workspace)
    for imported in workspace_codec_ids(folder) if folder is not None else []:
        table.add_row(imported, "javascript")
    out().print(table)


def decode(
    codec: Annotated[str, typer.Option(help="Codec id, VENDOR/MODEL.")],
    fport: Annotated[int, typer.Option(help="LoRaWAN FPort of the uplink.")],
    hex: Annotated[str | None, typer.Option(help="Payload as hexadecimal.")] = None,
    b64: Annotated[str | None, typer.Option(help="Payload as base64.")] = None,
    workspace: OptionalWorkspace = None,
) -> None:
    """Decode one payload; print {data, warnings, errors} as JSON; exit 1 on errors."""
    payload = _payload(hex, b64)
    result = _codec(codec, _default_workspace(workspace)).decode_uplink(payload, fport)
    typer.echo(orjson.dumps(result.as_dict(), option=orjson.OPT_INDENT_2).decode())
    if not result.ok:
        raise typer.Exit(1)


def _payload(hex_text: str | None, b64_text: str | None) -> bytes:
    if (hex_text is None) == (b64_text is None):
        err().print("[red]give the payload with exactly one of --hex and --b64[/]")
        raise typer.Exit(2)
    try:
        if hex_text is not None:
            return bytes.fromhex(hex_text)
        return base64.b64decode(str(b64_text), validate=True)
    except (ValueError, binascii.Error) as error:
        err().print(f"[red]the payload does not decode: {error}[/]")
        raise typer.Exit(2) from None


def _codec(codec_id: str, workspace: Path | None) -> Codec:
    """The native codec, else the workspace's imported one; exit 2 naming close ids."""
    try:
        return get_codec(codec_id)
    except UnknownCodecError as unknown:
        suggestions = unknown.suggestions
    if workspace is not None:
        for spec in workspace_codec_specs(workspace):
            if isinstance(spec, CodecSpec) and spec.id == codec_id:
                return spec.codec()
        suggestions += get_close_matches(codec_id, workspace_codec_ids(workspace), n=3)
    hint = f"; close matches: {', '.join(suggestions)}" if suggestions else ""
    err().print(f"[red]unknown codec id {codec_id!r}{hint}[/]", highlight=False)
    raise typer.Exit(2)
