"""Webhook ingest: distinct uplinks POSTed to ``stadsnav run`` until stored, against a bare app."""

from __future__ import annotations

from bench.common import (
    Result,
    StoredCounter,
    bare_server,
    copy_workspace,
    progress,
    stadsnav_server,
    temp_dir,
    uplinks,
)
from bench.http_load import LoadResult, post_requests, send

INTEGRATION = "beach-sensors-tts"
CONNECTIONS = 64


def _check(load: LoadResult, count: int, status: int, who: str) -> None:
    if load.count(status) != count:
        raise RuntimeError(f"{who}: expected {count} × {status}, got {load.statuses}")


def run(count: int = 20_000) -> Result:
    """POST ``count`` uplinks, one per request, over 64 connections, to both servers."""
    progress("webhook", f"building {count:,} uplinks")
    bodies = [uplink.body for uplink in uplinks(count)]
    with temp_dir() as folder:
        workspace = copy_workspace(folder, keep=(INTEGRATION,))
        db = folder / "stadsnav.db"
        with stadsnav_server(workspace, db) as server:
            counter = StoredCounter(db)
            progress("webhook", f"stadsnav run: {count:,} POSTs over {CONNECTIONS} connections")
            requests = post_requests(f"/ingest/{INTEGRATION}", bodies)
            try:
                subject = send(
                    server.port,
                    requests,
                    CONNECTIONS,
                    until=lambda: counter.wait_stored(count, timeout=300),
                )
            finally:
                counter.close()
        _check(subject, count, 202, "stadsnav run")
        progress("webhook", f"stored all in {subject.seconds:.2f} s; now the bare ASGI app")
        with bare_server("ingest", folder) as bare:
            baseline = send(bare.port, post_requests(f"/ingest/{INTEGRATION}", bodies), CONNECTIONS)
        _check(baseline, count, 202, "bare app")
    return Result(
        "webhook ingest",
        count / subject.seconds,
        "uplinks/s",
        count / baseline.seconds,
        "req/s",
        min_ratio=0.5,
    )
