"""The gateway's cost: entity GETs with an API key against the same GETs without one.

Both run against one ``stadsnav run``, on one entity of an open dataset, which anyone may read.
Without a key the caller is on a plan without limits: the gateway only works out the anonymous
caller's access and counts the request. With one (on a plan with a rate and a daily quota) it
also finds the key, checks its hash and status, works out its scopes' access, takes the request
from the rate and the quota and puts the RateLimit headers on the answer. The ratio is what a
city pays per request for authenticating, authorising and limiting its partners (issue 7 asks
for at least 0.8). There is no switch that turns the gateway off, so the baseline is the
gateway with nothing to check.
"""

from __future__ import annotations

from bench.common import Result, copy_workspace, issue_key, progress, stadsnav_server, temp_dir
from bench.entity import INTEGRATION, PATH, seed
from bench.http_load import get_requests, send

CONNECTIONS = 32


ROUNDS = 5


def run(count: int = 20_000) -> Result:
    """``count`` GETs with a key and ``count`` without, over 32 keep-alive connections, in
    alternating rounds so that the shared machine's drift falls on both alike."""
    with temp_dir() as folder:
        workspace = copy_workspace(folder, keep=(INTEGRATION,))
        db = folder / "stadsnav.db"
        key = issue_key(db, "read:beach-water-temperature")
        share = count // ROUNDS
        keyed, anonymous = get_requests(PATH, share, key), get_requests(PATH, share)
        with stadsnav_server(workspace, db) as server:
            seed(server.port, db)
            progress("gateway", f"{count:,} GETs with an API key and {count:,} without")
            send(server.port, anonymous[: share // 2], CONNECTIONS)  # warm both paths up
            send(server.port, keyed[: share // 2], CONNECTIONS)
            subjects, baselines = [], []
            for round_number in range(ROUNDS):
                order = [(keyed, subjects), (anonymous, baselines)]
                for requests, results in order[:: 1 if round_number % 2 else -1]:
                    results.append(send(server.port, requests, CONNECTIONS))
    for who, loads in (("with a key", subjects), ("without a key", baselines)):
        answered = sum(load.count(200) for load in loads)
        if answered != share * ROUNDS:
            raise RuntimeError(f"{who}: expected {share * ROUNDS} × 200, got {answered}")
    done = share * ROUNDS
    subject_seconds = sum(load.seconds for load in subjects)
    baseline_seconds = sum(load.seconds for load in baselines)
    return Result(
        "gateway GET", done / subject_seconds, "req/s", done / baseline_seconds, "req/s", 0.8
    )
