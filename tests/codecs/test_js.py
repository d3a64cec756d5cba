"""The JavaScript codec runner: TS013 and v2 scripts, and every way a script can misbehave."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import orjson
import pytest

from stadsnav.codecs.js import JsCodec, Uplink
from support import REPO_ROOT, SHARED_DATA, SUNDSVALL_BEACH_PAYLOAD

MakeCodec = Callable[..., JsCodec]
VENDOR = REPO_ROOT / "tests" / "fixtures" / "ttn-repo" / "vendor"


@pytest.fixture
def make_codec() -> Iterator[MakeCodec]:
    """Build codecs from the fixture scripts by id; every V8 context is closed afterwards."""
    made: list[JsCodec] = []

    def make(codec_id: str, **limits: int) -> JsCodec:
        codec = JsCodec(codec_id, (VENDOR / f"{codec_id}.js").read_text(), **limits)
        made.append(codec)
        return codec

    yield make
    for codec in made:
        codec.close()


def test_decodes_the_sundsvall_beach_uplink(make_codec: MakeCodec) -> None:
    [row] = [
        orjson.loads(line)
        for line in (SHARED_DATA / "devices" / "diwise_vectors.jsonl").read_text().splitlines()
        if orjson.loads(line)["id"] == "diwise-0001"
    ]
    payload = bytes.fromhex(row["bytes_hex"])
    assert payload == SUNDSVALL_BEACH_PAYLOAD
    result = make_codec("nordtest/tlv-sensor").decode_uplink(payload, row["fport"])
    assert result.ok
    assert result.data == {
        "externalTemperature": row["expected"]["externalTemperature"],
        "vdd": row["expected"]["vdd_mV"],
    }
    assert result.warnings == []


def test_codec_reported_errors_and_warnings_come_through(make_codec: MakeCodec) -> None:
    codec = make_codec("nordtest/tlv-sensor")
    low = codec.decode_uplink(bytes.fromhex("070b00"), 5)
    assert (low.data, low.warnings, low.errors) == ({"vdd": 2816}, ["low battery"], [])
    cut = codec.decode_uplink(bytes.fromhex("070d"), 5)
    assert cut.errors == ["type 0x7 is cut short"]
    assert codec.decode_uplink(SUNDSVALL_BEACH_PAYLOAD, 6).errors == ["unknown fPort 6"]


def test_legacy_v2_decoder_returns_data(make_codec: MakeCodec) -> None:
    result = make_codec("nordtest/legacy-counter").decode_uplink(bytes.fromhex("ff000001"), 2)
    assert result.data == {"port": 2, "pulses": 0xFF000001}


def test_only_ecmascript_builtins_are_there_and_recv_time_is_a_date(
    make_codec: MakeCodec,
) -> None:
    received = datetime(2024, 6, 1, 12, 30, tzinfo=UTC)
    result = make_codec("broken/sandbox-probe").decode_uplink(b"", 1, received)
    assert result.data == {
        "require": "undefined",
        "fetch": "undefined",
        "process": "undefined",
        "setTimeout": "undefined",
        "XMLHttpRequest": "undefined",
        "recvTime": "2024-06-01T12:30:00.000Z",
    }


def test_a_throwing_codec_is_an_error_result(make_codec: MakeCodec) -> None:
    codec = make_codec("broken/thrower")
    assert codec.decode_uplink(b"", 1).errors == ["decodeUplink threw Error: empty payload"]
    assert codec.decode_uplink(b"\x05", 1).data == {"first": 5}


def test_an_endless_loop_stops_at_the_time_limit(make_codec: MakeCodec) -> None:
    codec = make_codec("broken/spinner", timeout_ms=30)
    started = time.monotonic()
    results = codec.decode_uplinks([Uplink(b"\x01", 1), Uplink(b"\xff", 1), Uplink(b"\x02", 1)])
    elapsed = time.monotonic() - started
    assert [r.data for r in results] == [{"value": 1}, {}, {"value": 2}]
    assert results[1].errors == ["decoding took longer than 30 ms"]
    # The batch ran out of time once, then the spinner alone: two limits and the restarts.
    assert elapsed < 1.0


def test_every_uplink_of_a_batch_gets_the_whole_time_limit() -> None:
    busy = "function decodeUplink(i) { var t = Date.now(); while (Date.now() - t < 20) {} "
    busy += "return { data: { n: i.bytes[0] } }; }"
    with JsCodec("test/busy", busy, timeout_ms=50) as codec:
        results = codec.decode_uplinks([Uplink(bytes([n]), 1) for n in range(4)])
    assert [r.data for r in results] == [{"n": n} for n in range(4)]


def test_endless_allocation_stops_at_the_memory_limit(make_codec: MakeCodec) -> None:
    codec = make_codec("broken/hog", timeout_ms=5_000, max_memory_mb=32)
    started = time.monotonic()
    result = codec.decode_uplink(b"", 1)
    assert result.errors == ["decoding used more than 32 MB of memory"]
    assert time.monotonic() - started < 5.0


@pytest.mark.parametrize(
    ("first_byte", "error"),
    [
        (0, "decodeUplink returned number, not an object"),
        (1, "the codec returned garbage: data is str, not an object"),
        (2, "decodeUplink returned a value JSON cannot hold: result.data.level is NaN"),
        (3, "decodeUplink returned a value JSON cannot hold: result.data.level is undefined"),
        (4, "decodeUplink returned a value JSON cannot hold: result.data.fn is a function"),
        (5, "decodeUplink returned a value JSON cannot hold: result.data.nested[1] is Infinity"),
        (6, "decodeUplink returned a value JSON cannot hold: result.data.big is a bigint"),
        (7, "decodeUplink returned a value JSON cannot hold: result.data is not a plain object"),
        (8, "the codec returned garbage: warnings is not a list of strings"),
        (9, "the codec returned neither data nor errors"),
        (10, "decodeUplink returned undefined, not an object"),
    ],
)
def test_garbage_results_are_named_errors(
    make_codec: MakeCodec, first_byte: int, error: str
) -> None:
    result = make_codec("broken/garbage").decode_uplink(bytes([first_byte]), 1)
    assert (result.data, result.errors) == ({}, [error])


def test_no_call_sees_state_an_earlier_call_left(make_codec: MakeCodec) -> None:
    codec = make_codec("broken/leaker")
    results = codec.decode_uplinks([Uplink(bytes([n]), 1) for n in (11, 22, 33)])
    fresh = {"count": 0, "last": None, "implicit": None, "patched": "no", "mathLeak": None}
    assert [r.data for r in results] == [fresh, fresh, fresh]
    assert codec.decode_uplink(b"\x44", 1).data == fresh
    assert codec.contexts_created == 4


def test_a_clean_codec_keeps_its_context(make_codec: MakeCodec) -> None:
    codec = make_codec("nordtest/tlv-sensor")
    for _ in range(3):
        codec.decode_uplinks([Uplink(SUNDSVALL_BEACH_PAYLOAD, 5)] * 300)
    assert codec.contexts_created == 1


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("function decodeUplink(input) {", "SyntaxError: Unexpected end of input"),
        ("var table = [1, 2];", "Error: the codec defines neither decodeUplink nor Decoder"),
        ("throw new TypeError('no table');", "TypeError: no table"),
    ],
)
def test_a_script_that_does_not_load_reports_why(source: str, error: str) -> None:
    with JsCodec("test/bad", source) as codec:
        assert codec.load_error() == f"the codec does not load: {error}"
        assert codec.decode_uplink(b"\x01", 1).errors == [f"the codec does not load: {error}"]


def test_batched_decoding_is_faster_than_five_thousand_a_second(
    make_codec: MakeCodec,
) -> None:
    codec = make_codec("nordtest/tlv-sensor")
    uplinks = [Uplink(bytes.fromhex("070d8a0c00") + bytes([n % 200]), 5) for n in range(10_000)]
    codec.decode_uplinks(uplinks[:100])
    started = time.perf_counter()
    results = codec.decode_uplinks(uplinks)
    rate = len(uplinks) / (time.perf_counter() - started)
    assert results[193].data == {"vdd": 3466, "externalTemperature": 19.3}
    assert rate > 5_000
