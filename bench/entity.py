"""Entity GET: ``/ngsi-ld/v1/entities/{id}`` of a stored entity against a constant-body app."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from bench.common import (
    Result,
    StoredCounter,
    bare_server,
    copy_workspace,
    http_get,
    progress,
    stadsnav_server,
    temp_dir,
    uplinks,
)
from bench.http_load import get_requests, post_requests, send

INTEGRATION = "beach-sensors-tts"
ENTITY = "urn:ngsi-ld:WaterQualityObserved:skelleftea:elt2-byske-havsbad"
PATH = f"/ngsi-ld/v1/entities/{quote(ENTITY, safe='')}"
CONNECTIONS = 32
SEED_UPLINKS = 24


def seed(port: int, db: Path) -> tuple[dict[str, str], bytes]:
    """Send the beach sensor's uplinks until its entity is stored; its GET's headers and body."""
    bodies = [uplink.body for uplink in uplinks(SEED_UPLINKS)]
    send(port, post_requests(f"/ingest/{INTEGRATION}", bodies), 4, 1)
    counter = StoredCounter(db)
    counter.wait_stored(SEED_UPLINKS, timeout=30)
    counter.close()
    status, headers, body = http_get(port, PATH)
    if status != 200:
        raise RuntimeError(f"GET {PATH}: {status} {body[:300]!r}")
    return headers, body


def run(count: int = 20_000) -> Result:
    """``count`` GETs of one entity over 32 keep-alive connections, against both servers."""
    requests = get_requests(PATH, count)
    with temp_dir() as folder:
        workspace = copy_workspace(folder, keep=(INTEGRATION,))
        db = folder / "stadsnav.db"
        with stadsnav_server(workspace, db) as server:
            headers, body = seed(server.port, db)
            progress("entity", f"stadsnav run: {count:,} GETs of a {len(body)}-byte entity")
            subject = send(server.port, requests, CONNECTIONS)
        body_file = folder / "entity.json"
        body_file.write_bytes(body)
        extra = [str(body_file), headers["content-type"]]
        if "link" in headers:
            extra.append(headers["link"])
        progress("entity", f"{subject.seconds:.2f} s; now the bare app with the same body")
        with bare_server("constant", folder, *extra) as bare:
            baseline = send(bare.port, requests, CONNECTIONS)
    for who, load in (("stadsnav run", subject), ("bare app", baseline)):
        if load.count(200) != count:
            raise RuntimeError(f"{who}: expected {count} × 200, got {load.statuses}")
    return Result(
        "entity GET", count / subject.seconds, "req/s", count / baseline.seconds, "req/s", 0.5
    )
