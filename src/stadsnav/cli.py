"""The ``stadsnav`` command: run, demo, lint, dead letters, devices, codecs, keys."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Annotated

import typer
import uvicorn

from stadsnav.cli_audit import audit
from stadsnav.cli_codecs import codecs_app, decode
from stadsnav.cli_common import WorkspaceArg, err, load_checked, out, print_problems
from stadsnav.cli_deadletters import deadletters_app
from stadsnav.cli_devices import devices_app
from stadsnav.cli_keys import issue_demo_keys, keys_app
from stadsnav.cli_usage import usage
from stadsnav.codecs.repository import known_codecs
from stadsnav.gateway.keys import ApiKey
from stadsnav.logs import configure_logging
from stadsnav.workspace import (
    HttpPollSource,
    Workspace,
    lint_workspace,
)
from stadsnav.workspace.sources import ApiKeyAuth

app = typer.Typer(
    help="Stadsnav: connect vendors' systems, serve the city's data.", no_args_is_help=True
)
app.add_typer(deadletters_app, name="deadletters")
app.add_typer(codecs_app, name="codecs")
app.add_typer(devices_app, name="devices")
app.add_typer(keys_app, name="keys")
app.command()(decode)
app.command()(usage)
app.command()(audit)


@app.command()
def lint(workspace: WorkspaceArg) -> None:
    """Check a workspace; print every problem with file, line and field; exit 1 on errors."""
    problems = lint_workspace(workspace, known_codecs=known_codecs(workspace))
    print_problems(problems)
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
        # With the h11 parser uvicorn itself refuses larger headers; the gate checks them too.
        h11_max_incomplete_event_size=settings.max_header_bytes,
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
    ws = load_checked(workspace)
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
    ws = load_checked(workspace)
    # The demo's operators are simulators: any API key their feeds name and the environment
    # lacks gets a demo value, which the simulators then expect. Real keys live only there.
    for name in _api_key_variables(ws):
        os.environ.setdefault(name, f"demo-{name.lower()}")
    keys = issue_demo_keys(ws)
    server = _server(ws, None, port, True)
    asyncio.run(_demo(ws, server, interval, backfill, keys))


def _api_key_variables(workspace: Workspace) -> list[str]:
    """The environment variables that hold the API keys of the workspace's polled feeds."""
    return [
        integration.source.auth.key_env
        for integration in workspace.integrations.values()
        if isinstance(integration.source, HttpPollSource)
        and isinstance(integration.source.auth, ApiKeyAuth)
    ]


async def _demo(
    workspace: Workspace,
    server: uvicorn.Server,
    interval: float,
    backfill: int,
    keys: list[tuple[ApiKey, str]],
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
        ("Developer portal", "/portal"),
        ("API docs", "/docs"),
        ("Health", "/healthz"),
        ("Metrics", "/metrics"),
    ]:
        out().print(f"  {label:<18} {base}{path}")
    # Anyone reads the open datasets; these keys show what else a key opens (docs/gateway.md).
    print("\nAPI keys of this demo run (send as X-API-Key; new ones at each start):")
    for key, text in keys:
        print(f"  {key.owner} ({', '.join(key.scopes)}):\n    {text}")
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


def main() -> None:
    """Entry point of the ``stadsnav`` script."""
    app()
