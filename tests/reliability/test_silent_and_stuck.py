"""Silent and stuck sensors: marked stale and suspect in the API; honest constants not flagged.

The demo's beach sensors report every 20 minutes and their dataset's freshness is twice that;
its water temperature rule has ``stuck_after: P1D``. The ELT-2's digital input is mapped here as
a door contact without such a rule: a door that stays closed is no issue.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import orjson

from platform_harness import (
    Platform,
    WebhookSender,
    entity,
    entity_of,
    product_item,
    stored_entity,
)
from stadsnav.model.render import format_time
from stadsnav.simulate.tts import tts_uplink
from support import wait_for

INTERVAL = timedelta(minutes=20)
STUCK = ("elt2-byske-havsbad", "a81758fffe05c3a1")
DOOR_CLOSED = ("elt2-bovikens-havsbad", "a81758fffe05c3a2")
SILENT = ("elt2-storsand-bjuroklubb", "a81758fffe05c3a3")
REPORTING = ("elt2-danielsten", "a81758fffe05c3a6")
DOOR_MAPPING = """\
    doorState:
      value: data.digital
      lookup: {0: closed, 1: open}
"""


def body(device: tuple[str, str], f_cnt: int, celsius: float, at: datetime) -> bytes:
    """A TTS uplink of an ELT-2 with its probe's temperature and a closed door contact."""
    payload = b"\x0c" + round(celsius * 10).to_bytes(2, "big", signed=True) + b"\x0d\x00"
    uplink = tts_uplink(
        device_id=device[0],
        dev_eui=device[1],
        application_id="skelleftea-beaches",
        f_port=5,
        f_cnt=f_cnt,
        payload=payload,
        received_at=at,
    )
    return orjson.dumps(uplink)


def send_all(
    sender: WebhookSender, series: list[tuple[tuple[str, str], list[datetime], list[float]]]
) -> None:
    """Post every uplink of every device's series, eight at a time (so out of order, too)."""
    bodies = [
        body(device, f_cnt, value, at)
        for device, times, celsius in series
        for f_cnt, (at, value) in enumerate(zip(times, celsius, strict=True))
    ]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(sender.send, range(len(bodies)), bodies))


def with_door_contact(platform: Platform) -> None:
    """The beach webhook's mapping also stores the ELT-2's digital input as ``doorState``."""
    path = platform.workspace / "integrations" / "beach-sensors-tts.yaml"
    text = path.read_text()
    text = text.replace("  relationships:\n", DOOR_MAPPING + "  relationships:\n", 1)
    path.write_text(text)


def stored_time(platform: Platform, device: tuple[str, str]) -> str | None:
    """The ``observedAt`` of the device's stored temperature; None before it is stored."""
    found = stored_entity(platform, entity_of(device)) or {}
    temperature = found.get("temperature")
    return None if temperature is None else temperature["observedAt"]


def wait_processed(platform: Platform, device: tuple[str, str], newest: datetime) -> None:
    """Wait until the device's newest temperature is stored (its batch committed)."""
    expected = format_time(newest)
    wait_for(lambda: stored_time(platform, device) == expected, 30)


def test_silent_sensors_are_stale_stuck_ones_suspect_and_closed_doors_fine(
    platform: Platform,
) -> None:
    with_door_contact(platform)
    platform.start()
    sender = WebhookSender(platform.url)
    now = datetime.now(UTC).replace(microsecond=0)
    day = [now - n * INTERVAL for n in range(75, 0, -1)]  # from 25 hours ago, every 20 min
    silent = [now - 2 * INTERVAL - timedelta(minutes=5) - n * INTERVAL for n in (2, 1, 0)]
    reporting = [now - INTERVAL - timedelta(minutes=5), now - timedelta(minutes=5)]
    send_all(
        sender,
        [
            (STUCK, day, [17.4] * len(day)),
            (DOOR_CLOSED, day, [14.0 + n % 7 / 10 for n in range(len(day))]),
            (SILENT, silent, [15.1, 15.2, 15.3]),
            (REPORTING, reporting, [15.5, 15.4]),
        ],
    )
    for device, newest in ((STUCK, day[-1]), (DOOR_CLOSED, day[-1]), (SILENT, silent[-1])):
        wait_processed(platform, device, newest)
    wait_processed(platform, REPORTING, reporting[-1])

    # Silent for more than twice its interval: stale, its old value still shown with its time.
    storsand = product_item(platform, "beaches/storsand-bjuroklubb")
    assert (storsand["waterTemperature"], storsand["stale"]) == (15.3, True)
    assert storsand["observedAt"] == format_time(silent[-1])
    danielsten = product_item(platform, "beaches/danielsten")
    assert (danielsten["waterTemperature"], danielsten["stale"]) == (15.4, False)

    # The same 17.4 °C for 25 hours: suspect, and NGSI-LD says why; the closed door is no issue.
    byske = product_item(platform, "beaches/byske-havsbad")
    assert (byske["waterTemperature"], byske["stale"], byske["suspect"]) == (17.4, False, True)
    stuck = entity(platform, entity_of(STUCK))
    assert stuck["qualityIssues"]["value"] == [
        "temperature = 17.4 has not changed for longer than P1D: a stuck sensor?"
    ]
    assert stuck["doorState"]["value"] == "closed"

    # A door closed for 25 hours beside a temperature that moves: nothing is flagged.
    boviken = product_item(platform, "beaches/bovikens-havsbad")
    assert (boviken["stale"], boviken["suspect"]) == (False, False)
    closed = entity(platform, entity_of(DOOR_CLOSED))
    assert closed["doorState"]["value"] == "closed"
    assert closed["qualityIssues"]["value"] == []

    # The stuck probe moves again: no longer suspect.
    sender.send(len(day), body(STUCK, len(day), 17.5, now))
    wait_processed(platform, STUCK, now)
    assert product_item(platform, "beaches/byske-havsbad")["suspect"] is False
    assert entity(platform, entity_of(STUCK))["qualityIssues"]["value"] == []
