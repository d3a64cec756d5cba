"""The parking benchmark's parts: its workspace, operator, uplinks, targets and a short run."""

from __future__ import annotations

import math
import multiprocessing
import sys
from datetime import datetime
from pathlib import Path

import pytest
from starlette.testclient import TestClient

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.common import Result  # noqa: E402
from bench.parking import (  # noqa: E402
    AREA,
    PRODUCT,
    Load,
    Spot,
    build_workspace,
    near_paths,
    operator_app,
    percentile,
    run_load,
    uplink_body,
)

from stadsnav.codecs.registry import get_codec  # noqa: E402
from stadsnav.connectors.envelopes import parse_uplink  # noqa: E402
from stadsnav.workspace import load_workspace  # noqa: E402
from stadsnav.workspace.lint import lint_workspace  # noqa: E402

SMALL = Load(facilities=10, page_size=4, streets=3, spots=12, near_per_second=10)


def test_workspace_lints_clean_and_holds_both_feeds(tmp_path: Path) -> None:
    root = build_workspace(tmp_path, 8123, SMALL)
    assert lint_workspace(root) == []
    workspace = load_workspace(root)
    assert set(workspace.integrations) == {"bench-operator", "bench-spots"}
    assert len(workspace.devices) == 12
    assert {e.type for e in workspace.entities} == {"OnStreetParking"}
    assert "parking-facilities" in workspace.products


def test_operator_pages_by_offset_and_moves_counts_between_polls() -> None:
    polls = multiprocessing.get_context("fork").Value("q", 0)
    client = TestClient(operator_app(SMALL, polls))
    first = client.get("/facilities", params={"offset": 0, "limit": 4}).json()
    last = client.get("/facilities", params={"offset": 8, "limit": 4}).json()
    assert [len(first["facilities"]), first["next"]] == [4, 4]
    assert [len(last["facilities"]), last["next"], polls.value] == [2, None, 1]
    for record in first["facilities"] + last["facilities"]:
        assert record["free"] + record["occupied"] == record["capacity"]
        assert AREA[0][0] <= record["lon"] <= AREA[0][1]
        assert AREA[1][0] <= record["lat"] <= AREA[1][1]
        assert datetime.fromisoformat(record["updated"]).utcoffset() is not None
    later = [client.get("/facilities", params={"offset": 0, "limit": 4}).json() for _ in range(5)]
    seen = {tuple(r["free"] for r in page["facilities"]) for page in [first, *later]}
    assert len(seen) > 1


def test_uplinks_carry_nwave_status_frames_the_codec_reads() -> None:
    codec = get_codec("nwave/nps405sm")
    spot = Spot("a0b1c2d300000007", "spot-00007")
    for occupied in (True, False):
        uplink = parse_uplink(uplink_body(spot, 3, occupied), "tts_v3")
        assert (uplink.dev_eui, uplink.f_port, uplink.f_cnt) == (spot.dev_eui, 1, 3)
        assert codec.decode_uplink(uplink.payload, uplink.f_port).data["occupied"] is occupied
    bodies = {uplink_body(spot, n, True) for n in (1, 2)}
    assert len(bodies) == 2


def test_near_paths_stay_in_the_area_and_sometimes_ask_min_free() -> None:
    paths = near_paths(SMALL, 8)
    assert all(p.startswith(f"{PRODUCT}?near=") and "&radius=1000" in p for p in paths)
    assert sum("&minFree=5" in p for p in paths) == 2


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.99), percentile([], 0.5)) == (
        50.0,
        99.0,
        0.0,
    )


def test_lower_is_better_targets_and_rows_under_a_result() -> None:
    fast = Result("near", 12.5, "ms p99", 1.5, "ms p99", 0.0, max_subject=20)
    slow = Result("near", 25.0, "ms p99", 1.5, "ms p99", 0.0, max_subject=20)
    grown = Result("memory", 130, "MB", 100, "MB", 0.0, max_ratio=1.1)
    combined = Result(
        "near", 12.5, "ms p99", 1.5, "ms p99", 0.0, max_subject=20, more=(grown,), notes=("x",)
    )
    assert (fast.ok, slow.ok, grown.ok) == (True, False, False)
    assert fast.target() == "≤ 20 ms p99"
    assert grown.target() == "≤ 1.1"
    assert "12.50 ms p99" in fast.line()
    assert fast.line().endswith("ok")
    assert combined.met
    assert not combined.ok
    assert len(combined.lines()) == 3
    assert "MISS" in combined.lines()[1]


@pytest.mark.e2e
def test_short_parking_run_reports_near_ingest_and_memory() -> None:
    load = Load(facilities=100, page_size=25, streets=10, spots=100, uplinks_per_minute=1_200)
    result = run_load(load, seconds=6, baseline_seconds=3)
    ingest, memory = result.more
    assert result.subject > 0
    assert result.baseline > 0
    assert math.isfinite(result.ratio)
    assert result.target() in result.line()
    assert ingest.baseline == pytest.approx(1_200, rel=0.05)
    assert ingest.subject > 0
    assert memory.subject > 0
    assert memory.baseline > 0
    assert result.notes[0].startswith("near p50 ")
