"""``python -m bench [webhook|mqtt|pipeline|entity|parking ...] [--quick]``: run, print a table.

``python -m bench soak [--minutes N]`` runs the soak instead (see ``bench.soak``), and
``python -m bench conformance --suite DIR`` the ETSI NGSI-LD test suite (see ``bench.conformance``).
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable

from bench import (
    codecs,
    entity,
    gateway,
    mqtt_ingest,
    ngsild,
    parking,
    pipeline,
    temporal,
    webhook,
)
from bench.common import Result

Bench = Callable[[int], Result]
BENCHES: dict[str, tuple[Bench, int, int]] = {
    "webhook": (webhook.run, 20_000, 2_000),
    "mqtt": (mqtt_ingest.run, 20_000, 2_000),
    "pipeline": (pipeline.run, 100_000, 10_000),
    "entity": (entity.run, 20_000, 2_000),
    "gateway": (gateway.run, 20_000, 2_000),
    "codecs-native": (codecs.run_native, 100_000, 10_000),
    "codecs-js": (codecs.run_js, 100_000, 10_000),
    "parking": (parking.run, 300, 30),
    "ngsild": (ngsild.run, 100_000, 10_000),
    "temporal": (temporal.run, 100, 10),
}
"""Name → (run, full size, quick size); the size is a count (sensors for ``temporal``), or seconds
for ``parking``."""


def main() -> None:
    """Run the chosen benchmarks (all by default) and print the table; exit 0 even on misses."""
    if sys.argv[1:2] == ["soak"]:
        from bench import soak  # not with the others: it needs the reliability suite's harness

        sys.exit(soak.main(sys.argv[2:]))
    if sys.argv[1:2] == ["conformance"]:
        from bench import conformance

        sys.exit(conformance.main(sys.argv[2:]))
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"any of {', '.join(BENCHES)}")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a quick look")
    args = parser.parse_args()
    names = args.names or list(BENCHES)
    unknown = [name for name in names if name not in BENCHES]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHES)}")
    results: list[Result] = []
    failed: list[str] = []
    started = time.monotonic()
    for name in names:
        run, full, quick = BENCHES[name]
        size = quick if args.quick else full
        print(f"{name}: {size:,} …", flush=True)
        try:
            result = run(size)
        except Exception:
            traceback.print_exc()
            failed.append(name)
            continue
        results.append(result)
        for line in result.lines():
            print(f"  {line}", flush=True)
    print(f"\nStadsnav benchmarks ({time.monotonic() - started:.0f} s, ratio = subject / baseline)")
    for result in results:
        print("\n".join(result.lines()))
    for name in failed:
        print(f"{name:<14} FAILED (see the traceback above)")
    misses = [row.name for r in results for row in (r, *r.more) if not row.met] + failed
    print(f"\nmissed: {', '.join(misses)}" if misses else "\nevery target met")


if __name__ == "__main__":
    main()
