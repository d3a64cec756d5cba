"""Every benchmark at a tiny size, so ``make bench`` does not rot: both figures and a ratio."""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.common import Result  # noqa: E402

from bench import codecs, entity, gateway, mqtt_ingest, ngsild, pipeline, webhook  # noqa: E402

SIZE = 200


def check(result: Result) -> None:
    assert result.subject > 0
    assert result.baseline > 0
    assert math.isfinite(result.ratio)
    assert result.ratio == pytest.approx(result.subject / result.baseline)
    assert result.target() in result.line()


@pytest.mark.e2e
@pytest.mark.parametrize(
    "run",
    [
        webhook.run,
        pipeline.run,
        entity.run,
        gateway.run,
        codecs.run_native,
        codecs.run_js,
        ngsild.run,
    ],
    ids=lambda r: f"{r.__module__}.{r.__name__}",
)
def test_benchmark_reports_both_figures_and_ratio(run: Callable[[int], Result]) -> None:
    check(run(SIZE))


@pytest.mark.mqtt
def test_mqtt_benchmark_reports_both_figures_and_ratio() -> None:
    if not mqtt_ingest.broker_reachable():
        if os.environ.get("CI") == "true":
            pytest.fail("no Mosquitto on 127.0.0.1:1883 (CI=true: the MQTT benchmark must run)")
        pytest.skip("no Mosquitto on 127.0.0.1:1883")
    check(mqtt_ingest.run(SIZE))


def test_pipeline_target_needs_both_ratio_and_absolute_rate() -> None:
    fast_but_far = Result("p", 30_000, "uplinks/s", 200_000, "uplinks/s", 0.25, 20_000)
    close_but_slow = Result("p", 10_000, "uplinks/s", 20_000, "uplinks/s", 0.25, 20_000)
    both = Result("p", 30_000, "uplinks/s", 100_000, "uplinks/s", 0.25, 20_000)
    assert (fast_but_far.ok, close_but_slow.ok, both.ok) == (False, False, True)
    assert "MISS" in close_but_slow.line()
    assert both.line().endswith("ok")
