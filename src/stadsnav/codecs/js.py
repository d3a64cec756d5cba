"""JavaScript codecs (TS013 ``decodeUplink`` or TTN v2 ``Decoder``) run in a V8 sandbox.

Each codec owns one mini-racer context: V8 with the ECMAScript built-ins only (no ``require``,
``fetch``, file or network access; the timer globals are removed). A round trip into V8 costs
~0.1 ms, so uplinks are decoded in batches, one round trip per batch. Every uplink gets the
time limit on its own: a batch that runs out of time is retried from the unfinished uplink, which
then runs first with the whole limit. The built-ins are frozen once the codec's top level has run;
after any uplink that changed global state (a global set or rebound, a top-level object mutated)
or after a timeout or out-of-memory, the context is re-created, so no uplink sees what an
earlier one left behind.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Self

import orjson
from py_mini_racer import JSEvalException, JSOOMException, JSTimeoutException, MiniRacer

from stadsnav.codecs.base import DecodeResult

BATCH = 256
LOAD_TIMEOUT_S = 2.0

_PRELUDE = """
globalThis.setTimeout = undefined;
globalThis.clearTimeout = undefined;
globalThis.__timer_manager = undefined;
"""

# Defined after the codec's top level ran, so its own polyfills and tables are the baseline.
_RUNTIME = r"""
(function () {
  var g = globalThis, same = Object.is, own = Object.getOwnPropertyNames;
  var describe = Object.getOwnPropertyDescriptor, freeze = Object.freeze;
  var stringify = JSON.stringify, isArray = Array.isArray, getProto = Object.getPrototypeOf;
  var objectProto = Object.prototype, DateCtor = Date, StringCtor = String;
  var decodeUplink = typeof g.decodeUplink === "function" ? g.decodeUplink : null;
  var Decoder = typeof g.Decoder === "function" ? g.Decoder : null;
  var builtin = new Set(%BUILTIN_NAMES%);
  var globals = [], counts = [], states = [];
  if (!decodeUplink && !Decoder)
    throw new Error("the codec defines neither decodeUplink nor Decoder");
  // Frozen built-ins cannot be patched by one uplink for the next; checking them on every call
  // instead costs ~25 µs per uplink.
  function harden() {
    var seen = new Set(), stack = [];
    builtin.forEach(function (k) { stack.push(describe(g, k).value); });
    while (stack.length) {
      var o = stack.pop();
      if (o === null || (typeof o !== "object" && typeof o !== "function")) continue;
      if (o === g || seen.has(o)) continue;
      seen.add(o);
      freeze(o);
      stack.push(getProto(o));
      Reflect.ownKeys(o).forEach(function (k) {
        var d = describe(o, k);
        stack.push(d.value, d.get, d.set);
      });
    }
  }
  function snapshot() {
    own(g).forEach(function (k) {
      var d = describe(g, k), v = d.value;
      globals.push([k, d.get || d.set ? d.get : v, !!(d.get || d.set)]);
      if (builtin.has(k)) return;
      if (typeof v === "function") { counts.push([v, own(v).length]); return; }
      if (v === null || typeof v !== "object") return;
      try { states.push([v, stringify(v)]); } catch (e) { counts.push([v, own(v).length]); }
    });
  }
  function dirty() {
    var i, c, d;
    if (own(g).length !== globals.length) return true;
    for (i = 0; i < globals.length; i++) {
      c = globals[i];
      if (c[2]) { d = describe(g, c[0]); if (!d || d.get !== c[1]) return true; }
      else if (!same(g[c[0]], c[1])) return true;
    }
    for (i = 0; i < counts.length; i++) if (own(counts[i][0]).length !== counts[i][1]) return true;
    for (i = 0; i < states.length; i++) if (stringify(states[i][0]) !== states[i][1]) return true;
    return false;
  }
  function kind(v) {
    if (v === null) return "null";
    if (isArray(v)) return "an array";
    return typeof v === "object" ? "an object" : typeof v;
  }
  function unplain(v, path, depth) {
    var t = typeof v, k, p, found;
    if (depth > 64) return path + " is nested too deep (a cycle?)";
    if (v === null || t === "string" || t === "boolean") return null;
    if (t === "number") return isFinite(v) ? null : path + " is " + v;
    if (t !== "object") return path + " is " + (t === "undefined" ? "undefined" : "a " + t);
    if (v instanceof DateCtor) return null;
    if (isArray(v)) {
      for (k = 0; k < v.length; k++)
        if ((found = unplain(v[k], path + "[" + k + "]", depth + 1))) return found;
      return null;
    }
    p = getProto(v);
    if (p !== objectProto && p !== null) return path + " is not a plain object";
    for (k in v) if ((found = unplain(v[k], path + "." + k, depth + 1))) return found;
    return null;
  }
  function message(e) {
    try {
      return e instanceof Error ? StringCtor(e.name) + ": " + StringCtor(e.message) : StringCtor(e);
    } catch (x) {
      return "a value that cannot be shown";
    }
  }
  function one(input) {
    var result, problem, name = decodeUplink ? "decodeUplink" : "Decoder";
    if (input.recvTime !== undefined) input.recvTime = new DateCtor(input.recvTime);
    try {
      result = decodeUplink ? decodeUplink(input) : Decoder(input.bytes, input.fPort);
    } catch (e) {
      return { e: name + " threw " + message(e) };
    }
    if (result === null || typeof result !== "object" || isArray(result))
      return { e: name + " returned " + kind(result) + ", not an object" };
    problem = unplain(result, decodeUplink ? "result" : "data", 0);
    if (problem) return { e: name + " returned a value JSON cannot hold: " + problem };
    return { r: decodeUplink ? result : { data: result } };
  }
  var out = [];
  Object.defineProperty(g, "__stadsnav_done", { value: function () {
    return stringify({ results: out, dirty: true });
  } });
  Object.defineProperty(g, "__stadsnav_run", { value: function (inputs) {
    var i;
    out = [];
    for (i = 0; i < inputs.length; i++) {
      out.push(one(inputs[i]));
      if (dirty()) return stringify({ results: out, dirty: true });
    }
    return stringify({ results: out, dirty: false });
  } });
  harden();
  snapshot();
})();
"""


@dataclass(frozen=True, slots=True)
class Uplink:
    """One payload to decode."""

    payload: bytes
    f_port: int
    recv_time: datetime | None = None

    def js_input(self) -> dict[str, Any]:
        """The TS013 input object (``recvTime`` as ISO text, made a ``Date`` in V8)."""
        value: dict[str, Any] = {"bytes": list(self.payload), "fPort": self.f_port}
        if self.recv_time is not None:
            value["recvTime"] = self.recv_time.isoformat()
        return value


@dataclass(slots=True)
class _Batch:
    results: list[DecodeResult]
    failure: str | None = None
    """Why the uplink after ``results`` was stopped (time, memory), if it was."""
    known: bool = True
    """False when the finished uplinks could not be read back after the stop."""


class JsCodec:
    """A TS013 / TTN JavaScript codec, sandboxed, with a per-uplink time and heap limit."""

    def __init__(
        self, id: str, source: str, *, timeout_ms: int = 50, max_memory_mb: int = 64
    ) -> None:
        self.id = id
        self.source = source
        self.timeout_ms = timeout_ms
        self.max_memory_mb = max_memory_mb
        self.contexts_created = 0
        self._context: MiniRacer | None = None
        self._load_error: str | None = None
        self._lock = threading.Lock()

    def decode_uplink(
        self, payload: bytes, f_port: int, recv_time: datetime | None = None
    ) -> DecodeResult:
        """Decode one uplink; every failure of the script is reported in ``errors``."""
        return self.decode_uplinks([Uplink(payload, f_port, recv_time)])[0]

    def decode_uplinks(self, uplinks: Sequence[Uplink]) -> list[DecodeResult]:
        """Decode many uplinks in few round trips into V8; results in the same order."""
        with self._lock:
            results: list[DecodeResult] = []
            pending = [uplink.js_input() for uplink in uplinks]
            size = BATCH
            while pending:
                batch = self._run(pending[:size])
                results += batch.results
                pending = pending[len(batch.results) :]
                if batch.failure is None or batch.results:
                    size = BATCH  # a stopped uplink now runs first, with the whole limit
                elif batch.known or size == 1:
                    # It ran first in a fresh context with the whole limit: it is the culprit.
                    results.append(DecodeResult.rejected(batch.failure))
                    pending = pending[1:]
                    size = BATCH
                else:
                    size = 1
            return results

    def load_error(self) -> str | None:
        """Why the source cannot be used (syntax error, failing top level), or None."""
        with self._lock:
            self._ensure_context()
            return self._load_error

    def close(self) -> None:
        """Stop the V8 context (and its thread)."""
        with self._lock:
            self._drop_context()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _run(self, inputs: list[dict[str, Any]]) -> _Batch:
        context = self._ensure_context()
        if context is None:
            return _Batch([DecodeResult.rejected(str(self._load_error)) for _ in inputs])
        script = f"__stadsnav_run({orjson.dumps(inputs).decode()})"
        try:
            outcome = _outcome(context.eval(script, timeout_sec=self.timeout_ms / 1000))
        except JSTimeoutException:
            return self._stopped(context, f"decoding took longer than {self.timeout_ms} ms")
        except JSOOMException:
            memory = f"decoding used more than {self.max_memory_mb} MB of memory"
            return self._stopped(context, memory)
        except JSEvalException as error:
            return self._stopped(context, f"the codec failed: {_last_line(str(error))}")
        if outcome is None or outcome[1]:
            self._drop_context()
        if outcome is None:
            return _Batch([], "the codec broke the sandbox's result encoding", known=False)
        return _Batch(outcome[0])

    def _stopped(self, context: MiniRacer, reason: str) -> _Batch:
        try:
            outcome = _outcome(context.eval("__stadsnav_done()", timeout_sec=LOAD_TIMEOUT_S))
        except JSEvalException:
            outcome = None
        # A stopped script may have left anything half-done, so start over.
        self._drop_context()
        if outcome is None:
            return _Batch([], reason, known=False)
        return _Batch(outcome[0], reason)

    def _ensure_context(self) -> MiniRacer | None:
        if self._context is not None or self._load_error is not None:
            return self._context
        context = MiniRacer()
        self.contexts_created += 1
        context.set_hard_memory_limit(self.max_memory_mb * 1024 * 1024)
        try:
            context.eval(_PRELUDE)
            builtin_names = context.eval("JSON.stringify(Object.getOwnPropertyNames(globalThis))")
            context.eval(self.source, timeout_sec=LOAD_TIMEOUT_S)
            context.eval(_RUNTIME.replace("%BUILTIN_NAMES%", str(builtin_names)))
        except JSEvalException as error:
            context.close()
            self._load_error = f"the codec does not load: {_last_line(str(error))}"
            return None
        self._context = context
        return context

    def _drop_context(self) -> None:
        if self._context is not None:
            self._context.close()
            self._context = None


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    # V8 messages end with "Name: message" after the source excerpt and caret.
    named = [line for line in lines if "Error" in line.split(":")[0]]
    return (named[-1] if named else lines[-1] if lines else text).strip()


def _outcome(raw: object) -> tuple[list[DecodeResult], bool] | None:
    """The finished uplinks' results and whether global state changed, from the runner's JSON."""
    try:
        outcome = orjson.loads(raw) if isinstance(raw, str) else None
    except orjson.JSONDecodeError:
        return None
    if not isinstance(outcome, dict) or not isinstance(outcome.get("results"), list):
        return None
    return [_result(item) for item in outcome["results"]], bool(outcome.get("dirty"))


def _result(item: dict[str, Any]) -> DecodeResult:
    if "e" in item:
        return DecodeResult.rejected(str(item["e"]))
    value: dict[str, Any] = item["r"]
    data = value.get("data")
    warnings = value.get("warnings", [])
    errors = value.get("errors", [])
    problems = [
        f"{name} is not a list of strings"
        for name, texts in (("warnings", warnings), ("errors", errors))
        if not _strings(texts)
    ]
    if data is not None and not isinstance(data, dict):
        problems.append(f"data is {type(data).__name__}, not an object")
    if problems:
        return DecodeResult(errors=[f"the codec returned garbage: {p}" for p in problems])
    if data is None and not errors:
        return DecodeResult.rejected("the codec returned neither data nor errors")
    return DecodeResult(data or {}, list(warnings), list(errors))


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(text, str) for text in value)
