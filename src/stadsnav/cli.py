"""The ``stadsnav`` command: run, demo, lint, dead letters."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.console import Console
from rich.table import Table

from stadsnav.cli_codecs import codecs_app, decode
from stadsnav.cli_devices import devices_app
from stadsnav.codecs.repository import known_codecs
from stadsnav.logs import configure_logging
from stadsnav.model.times import local_time
from stadsnav.workspace import (
    HttpPollSource,
    Problem,
    Workspace,
    WorkspaceError,
    lint_workspace,
    load_workspace,
)
from stadsnav.workspace.sources import ApiKeyAuth

app = typer.Typer(
    help="Stadsnav: connect vendors' systems, serve the city's data.", no_args_is_help=True
)
deadletters = typer.Typer(help="Inspect and replay messages the pipeline could not process.")
app.add_typer(deadletters, name="deadletters")
app.add_typer(codecs_app, name="codecs")
app.add_typer(devices_app, name="devices")
app.command()(decode)


def out() -> Console:
    """Standard output, sized to the terminal at the time of printing."""
    return Console(soft_wrap=True)


def err() -> Console:
    """Standard error, sized to the terminal at the time of printing."""
    return Console(stderr=True, soft_wrap=True)


WorkspaceArg = Annotated[Path, typer.Argument(help="Workspace folder (with stadsnav.toml).")]


def _print_problems(problems: list[Problem]) -> None:
    for problem in problems:
        style = "red" if problem.severity == "error" else "yellow"
        err().print(f"[{style}]{problem.severity}[/]: {problem}", highlight=False)


def _load(path: Path) -> Workspace:
    """The workspace, or exit 2 after printing every problem in it."""
    problems = lint_workspace(path, known_codecs=known_codecs(path))
    if any(p.severity == "error" for p in problems):
        _print_problems(problems)
        err().print(f"[red]{path}: the workspace has errors; fix them and start again.[/]")
        raise typer.Exit(2)
    try:
        return load_workspace(path)
    except WorkspaceError as error:
        _print_problems(error.problems)
        raise typer.Exit(2) from None


@app.command()
def lint(workspace: WorkspaceArg) -> None:
    """Check a workspace; print every problem with file, line and field; exit 1 on errors."""
    problems = lint_workspace(workspace, known_codecs=known_codecs(workspace))
    _print_problems(problems)
    errors = sum(p.severity == "error" for p in problems)
    if errors:
        err().print(f"[red]{errors} error(s)[/] in {workspace}")
        raise typer.Exit(1)
    out().print(f"[green]{workspace}: ok[/] ({len(problems)} warning(s))")


class _Server(uvicorn.Server):
    """A uvicorn server that exits with status 0 after a graceful stop on SIGINT or SIGTERM.

    Uvicorn re-raises the signal once it has shut down, which ends the process with a
    traceback (Ctrl-C) or a killed-by-signal status (SIGTERM from systemd or a test).
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Handle SIGINT and SIGTERM as a request to stop; restore the old handlers after."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        stop_signals = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in stop_signals}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _server(
    workspace: Workspace, host: str | None, port: int | None, ingest: bool
) -> uvicorn.Server:
    from stadsnav.api.app import create_app
    from stadsnav.runtime import Runtime

    runtime = Runtime.open(workspace, ingest=ingest)
    settings = workspace.settings.server
    # The API, the inbox and the pipeline share one interpreter lock; a shorter hand-over
    # keeps an API answer from waiting 5 ms behind the pipeline each time it touches SQLite.
    sys.setswitchinterval(settings.switch_interval)
    config = uvicorn.Config(
        create_app(runtime),
        host=host or settings.host,
        port=port or settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    return _Server(config)


@app.command()
def run(
    workspace: WorkspaceArg,
    host: Annotated[str | None, typer.Option(help="Listen address (default: server.host).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (default: server.port).")] = None,
    ingest: Annotated[bool, typer.Option(help="Run the pipeline and subscriptions here.")] = True,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING or ERROR.")] = "INFO",
) -> None:
    """Serve the APIs and ingest the workspace's integrations until stopped (Ctrl-C / SIGTERM)."""
    configure_logging(log_level.upper())
    ws = _load(workspace)
    _server(ws, host, port, ingest).run()


@app.command()
def demo(
    workspace: WorkspaceArg,
    port: Annotated[int | None, typer.Option(help="Listen port (default: server.port).")] = None,
    interval: Annotated[float, typer.Option(help="Seconds between uplinks of each sensor.")] = 5.0,
    backfill: Annotated[int, typer.Option(help="Hours of history to send at start.")] = 24,
) -> None:
    """Run the platform with the beach sensor simulator feeding it; print the URLs to open."""
    configure_logging("WARNING")
    ws = _load(workspace)
    # The demo's operators are simulators: any API key their feeds name and the environment
    # lacks gets a demo value, which the simulators then expect. Real keys live only there.
    for name in _api_key_variables(ws):
        os.environ.setdefault(name, f"demo-{name.lower()}")
    server = _server(ws, None, port, True)
    asyncio.run(_demo(ws, server, interval, backfill))


def _api_key_variables(workspace: Workspace) -> list[str]:
    """The environment variables that hold the API keys of the workspace's polled feeds."""
    return [
        integration.source.auth.key_env
        for integration in workspace.integrations.values()
        if isinstance(integration.source, HttpPollSource)
        and isinstance(integration.source.auth, ApiKeyAuth)
    ]


async def _demo(
    workspace: Workspace, server: uvicorn.Server, interval: float, backfill: int
) -> None:
    from stadsnav.simulate.beaches import BeachSimulator
    from stadsnav.simulate.parking import ParkingSimulators
    from stadsnav.simulate.parking_sites import MUNICIPAL, PRIVATE

    stop = asyncio.Event()
    config = server.config
    base = f"http://{config.host}:{config.port}"
    # The operators' simulators listen before the platform starts polling them.
    parking = ParkingSimulators.for_workspace(workspace, base, backfill)
    if parking is not None:
        await parking.start()
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            if parking is not None:
                await parking.stop()
            await serving
            return
        await asyncio.sleep(0.05)
    out().print(f"\n[bold]Stadsnav demo — {workspace.settings.workspace.name}[/] is running:\n")
    for label, path in [
        ("Beaches (JSON)", "/api/v1/beaches"),
        ("Beaches (GeoJSON)", "/api/v1/beaches?format=geojson"),
        ("Beaches (CSV)", "/api/v1/beaches?format=csv"),
        ("NGSI-LD", "/ngsi-ld/v1/entities?type=WaterQualityObserved"),
        ("Free parking", "/api/v1/parking/facilities?near=20.952,64.751&radius=1500"),
        ("Free parking (map)", "/api/v1/parking/facilities?format=geojson"),
        ("API docs", "/docs"),
        ("Health", "/healthz"),
        ("Metrics", "/metrics"),
    ]:
        out().print(f"  {label:<18} {base}{path}")
    sim = BeachSimulator.for_workspace(workspace)
    networks = sorted({sensor.format for sensor in sim.sensors})
    out().print(
        f"\n{len(sim.sensors)} sensors post through {', '.join(networks)} webhooks every "
        f"{interval:g} s; Ctrl-C stops everything.\n"
    )
    if parking is not None:
        out().print(
            f"Parking: {MUNICIPAL.name} (DATEX II, {parking.datex_status_url}), "
            f"{PRIVATE.name} (JSON API, {parking.operator_url}, fails now and then) and "
            f"{len(parking.sensors.sensors)} bay sensors through The Things Stack.\n"
        )
    simulator = asyncio.create_task(sim.run(base, interval, stop, backfill))
    await serving
    stop.set()
    simulator.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await simulator
    if parking is not None:
        await parking.stop()


@deadletters.command("list")
def deadletters_list(
    workspace: WorkspaceArg,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 50,
    integration: Annotated[str | None, typer.Option(help="Only this integration's.")] = None,
) -> None:
    """Show dead letters: when, which integration, which stage, why."""
    from stadsnav.store.factory import open_store

    ws = _load(workspace)
    store = open_store(ws.settings.storage.resolved_url(ws.root))
    store.migrate()
    letters = store.dead_letters(limit, integration)
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
    store.close()


@deadletters.command("replay")
def deadletters_replay(
    workspace: WorkspaceArg,
    ids: Annotated[
        list[int] | None, typer.Argument(help="Dead letter ids; none means all.")
    ] = None,
) -> None:
    """Put dead letters back in the inbox (after fixing their cause) and process them now."""
    from stadsnav.metrics import Metrics
    from stadsnav.pipeline.processor import Processor
    from stadsnav.pipeline.runner import PipelineRunner
    from stadsnav.store.factory import open_store

    ws = _load(workspace)
    store = open_store(ws.settings.storage.resolved_url(ws.root))
    store.migrate()
    moved = store.replay_dead_letters(ids or None)
    result = PipelineRunner(
        store, Processor(ws, store), Metrics(), ws.settings.pipeline.batch_size
    ).drain()
    out().print(
        f"replayed {moved} message(s): {result.messages - result.dead} stored, "
        f"{result.dead} dead-lettered again"
    )
    store.close()


def main() -> None:
    """Entry point of the ``stadsnav`` script."""
    app()
