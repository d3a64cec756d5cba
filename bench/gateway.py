"""The gateway's cost: entity GETs with an API key against the same GETs without one.

Both run against one ``stadsnav run``, on one entity of an open dataset, which anyone may read:
without a key the gateway only works out the anonymous caller's access; with one it also finds
the key, checks its hash and status and works out its scopes' access. The ratio is what a
city pays per request for authenticating its partners (issue 7 asks for at least 0.8).
"""

from __future__ import annotations

from bench.common import Result, copy_workspace, issue_key, progress, stadsnav_server, temp_dir
from bench.entity import INTEGRATION, PATH, seed
from bench.http_load import get_requests, send

CONNECTIONS = 32


def run(count: int = 20_000) -> Result:
    """``count`` GETs with a key, then ``count`` without, over 32 keep-alive connections."""
    with temp_dir() as folder:
        workspace = copy_workspace(folder, keep=(INTEGRATION,))
        db = folder / "stadsnav.db"
        key = issue_key(db, "read:beach-water-temperature")
        keyed, anonymous = get_requests(PATH, count, key), get_requests(PATH, count)
        with stadsnav_server(workspace, db) as server:
            seed(server.port, db)
            progress("gateway", f"{count:,} GETs with an API key, then {count:,} without")
            send(server.port, anonymous[: count // 10], CONNECTIONS)  # warm both paths up
            send(server.port, keyed[: count // 10], CONNECTIONS)
            subject = send(server.port, keyed, CONNECTIONS)
            baseline = send(server.port, anonymous, CONNECTIONS)
    for who, load in (("with a key", subject), ("without a key", baseline)):
        if load.count(200) != count:
            raise RuntimeError(f"{who}: expected {count} × 200, got {load.statuses}")
    return Result(
        "gateway GET", count / subject.seconds, "req/s", count / baseline.seconds, "req/s", 0.8
    )
