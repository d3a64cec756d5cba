"""Payload decoding: the native Elsys codec and the JavaScript runner, against envelope parsing."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable

import orjson

from bench.common import REPO_ROOT, Result, progress, uplinks
from stadsnav.codecs.js import JsCodec, Uplink
from stadsnav.codecs.registry import get_codec

NATIVE = "elsys/ers"
JS_SCRIPT = REPO_ROOT / "tests/fixtures/ttn-repo/vendor/nordtest/tlv-sensor.js"
SINGLE_CALLS = 2_000


def _bodies_and_payloads(count: int) -> tuple[list[bytes], list[bytes]]:
    bodies = [uplink.body for uplink in uplinks(count)]
    payloads = [
        base64.b64decode(orjson.loads(body)["uplink_message"]["frm_payload"]) for body in bodies
    ]
    return bodies, payloads


def _rate(count: int, work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return count / (time.perf_counter() - started)


def _baseline(bodies: list[bytes]) -> float:
    return _rate(len(bodies), lambda: [orjson.loads(body) for body in bodies])


def run_native(count: int = 100_000) -> Result:
    """``count`` Elsys payloads through the native codec, against ``orjson.loads`` of the bodies."""
    bodies, payloads = _bodies_and_payloads(count)
    codec = get_codec(NATIVE)
    subject = _rate(count, lambda: [codec.decode_uplink(p, 5) for p in payloads])
    if codec.decode_uplink(payloads[0], 5).errors:
        raise RuntimeError(f"{NATIVE} rejects the benchmark payload")
    baseline = _baseline(bodies)
    progress("codecs", f"native {subject:,.0f}/s; envelope parse {baseline:,.0f}/s")
    return Result("native decode", subject, "uplinks/s", baseline, "bodies/s", 0.5)


def run_js(count: int = 100_000) -> Result:
    """``count`` payloads through the JavaScript runner (in batches); at least 5,000 per second."""
    bodies, payloads = _bodies_and_payloads(count)
    batch = [Uplink(payload, 5) for payload in payloads]
    with JsCodec("nordtest/tlv-sensor", JS_SCRIPT.read_text()) as codec:
        codec.decode_uplinks(batch[:100])  # start V8 and warm the JIT outside the timing
        subject = _rate(count, lambda: codec.decode_uplinks(batch))
        single = _rate(
            SINGLE_CALLS, lambda: [codec.decode_uplink(p, 5) for p in payloads[:SINGLE_CALLS]]
        )
        if codec.decode_uplink(payloads[0], 5).errors:
            raise RuntimeError("the JavaScript codec rejects the benchmark payload")
    baseline = _baseline(bodies)
    progress("codecs", f"JS batched {subject:,.0f}/s, one call each {single:,.0f}/s")
    return Result("JS decode", subject, "uplinks/s", baseline, "bodies/s", 0.0, 5_000)
