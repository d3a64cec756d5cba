"""Back-pressure: lock the store and flood the webhook; nothing is buffered unbounded or lost.

The workspace's ``[pipeline] inbox_queue`` is set to 50 and 200 impatient senders post numbered
uplinks at once while another connection holds the store's write lock, and a feed is polled.
The inbox writer's queue (``stadsnav_inbox_queue`` in ``/metrics``) never holds more than 50:
past it senders are answered 503 (reason ``full``) with Retry-After, as they are once a commit
has waited longer than the inbox's ``max_wait``; the poller stops fetching
(``stadsnav_poll_paused``). After the lock is lifted every message answered 202 is stored
exactly once, and the counters account for every answer.

``make test`` runs the fast variant (``FAST_COUNT`` messages); ``make soak`` calls
``flood_locked_store`` with ``SOAK_COUNT``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from outages import FAST_COUNT, backpressure_rig, flood_locked_store

pytestmark = [pytest.mark.e2e]


def test_a_locked_store_refuses_senders_pauses_pollers_and_loses_nothing(
    tmp_path: Path, storage_url: str
) -> None:
    with backpressure_rig(tmp_path, storage_url) as rig:
        figures = flood_locked_store(rig, FAST_COUNT)
    assert figures.lost == 0
