"""``python -m bench conformance --suite DIR``: the ETSI NGSI-LD conformance suite against Stadsnav.

Starts ``stadsnav run`` on a fresh workspace (SQLite, or PostgreSQL with ``--storage``), runs the
suite's Robot Framework tests of the areas issue 6 is measured on (CommonBehaviours,
ContextInformation Provision / Consumption / Subscription without MQTT, jsonldContext), and prints
the share passed per area, with every failure in ``failures.txt`` of the output folder.

The suite (``git clone https://forge.etsi.org/rep/cim/ngsi-ld-test-suite``) is not part of this
repository; ``make conformance SUITE=DIR`` installs its requirements in a virtualenv of their own.
Its payloads name its own @contexts by their URL on forge.etsi.org: those are served from the
checkout's ``resources/jsonld-contexts`` (so a run does not depend on forge, nor on the branch
there moving on), and any other from a file with ``--context URL=FILE``. Both become the
workspace's ``[ngsild] contexts``.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.common import Process, free_port, progress

AREAS = (
    "CommonBehaviours",
    "ContextInformation/Provision",
    "ContextInformation/Consumption",
    "ContextInformation/Subscription",
    "jsonldContext",
)
SUITE_CONTEXTS = (
    "https://forge.etsi.org/rep/cim/ngsi-ld-test-suite/-/raw/develop/resources/jsonld-contexts/"
)
"""Where the suite's payloads say its own @contexts are."""
SKIPPED_FOLDERS = ("MQTT",)
"""Folders left out: MQTT notifications are not in the measured scope."""


@dataclass(frozen=True)
class Outcome:
    """One test's result."""

    area: str
    file: str
    name: str
    passed: bool
    message: str
    extension: bool


def robot_files(suite: Path, areas: tuple[str, ...]) -> list[Path]:
    """The suite's ``.robot`` files of ``areas``, sorted, without the skipped folders."""
    files = []
    for area in areas:
        folder = suite / "TP" / "NGSI-LD" / area
        if not folder.is_dir():
            raise SystemExit(f"{folder} does not exist: is {suite} the test suite's root folder?")
        files += [
            path
            for path in folder.rglob("*.robot")
            if not set(path.relative_to(folder).parts) & set(SKIPPED_FOLDERS)
        ]
    return sorted(files)


def suite_contexts(suite: Path) -> dict[str, Path]:
    """The suite's own @contexts, by the forge URL its payloads name them with."""
    folder = suite / "resources" / "jsonld-contexts"
    return {SUITE_CONTEXTS + path.name: path for path in sorted(folder.glob("*.jsonld"))}


def workspace_toml(port: int, storage_url: str, contexts: dict[str, Path]) -> str:
    """The settings of the run's workspace: the storage, the port and the served contexts."""
    served = ", ".join(f'"{url}" = "{path.as_posix()}"' for url, path in contexts.items())
    return (
        '[workspace]\nname = "ETSI NGSI-LD conformance run"\n\n'
        f'[storage]\nurl = "{storage_url}"\n\n'
        f'[server]\nhost = "127.0.0.1"\nport = {port}\n\n'
        # The suite pages temporal answers of 20 instances per attribute and expects 5 whole.
        f"[ngsild]\ntemporal_instances = 10\ncontexts = {{ {served} }}\n\n"
        # The suite sends no API key: its run reads and writes as anyone may in a laboratory.
        '[gateway]\nanonymous_scopes = ["read", "write"]\n'
        # Nor is it limited: a test run is hundreds of requests in a few seconds.
        "[gateway.plans.anonymous]\n"
    )


@contextmanager
def broker(folder: Path, storage_url: str, contexts: dict[str, Path]) -> Iterator[Process]:
    """``stadsnav run`` on a new workspace in ``folder`` until the block ends."""
    workspace = folder / "workspace"
    (workspace / "contexts").mkdir(parents=True)
    copies = {}
    for number, (url, source) in enumerate(contexts.items()):
        copies[url] = Path("contexts") / f"{number}-{source.name}"
        shutil.copyfile(source, workspace / copies[url])
    port = free_port()
    (workspace / "stadsnav.toml").write_text(workspace_toml(port, storage_url, copies))
    env = {key: value for key, value in os.environ.items() if key != "STADSNAV_STORAGE_URL"}
    args = [sys.executable, "-m", "stadsnav", "run", str(workspace), "--log-level", "WARNING"]
    server = Process(args, port, folder / "stadsnav.log", env)
    try:
        server.wait_listening()
        yield server
    finally:
        server.stop()


def robot_command(name: str) -> str:
    """``name`` (a command on PATH or a path) as an absolute path: robot runs in the suite's
    folder, where a relative path would not be found."""
    found = shutil.which(name)
    if found is None:
        raise SystemExit(f"--robot {name}: no such command; install the suite's requirements")
    return str(Path(found).resolve())


def run_robot(robot: str, suite: Path, files: list[Path], port: int, out: Path) -> None:
    """Run the suite's tests against the broker on ``port``; the results go to ``out``."""
    api = f"http://127.0.0.1:{port}/ngsi-ld/v1"
    variables = {
        "url": api,
        "temporal_api_url": api,
        "notification_server_host": "127.0.0.1",
        "notification_server_port": free_port(),
        "context_source_host": "127.0.0.1",
        "context_source_port": free_port(),
        "context_server_host": "127.0.0.1",
        "context_server_port": free_port(),
    }
    args = [robot, "--outputdir", str(out), "--console", "dotted", "--log", "NONE"]
    for name, value in variables.items():
        args += ["--variable", f"{name}:{value}"]
    args += [str(path.relative_to(suite)) for path in files]
    env = {**os.environ, "PYTHONPATH": str(suite / "libraries")}
    with (out / "robot.log").open("wb") as log:
        # The suite reads its files relative to ${EXECDIR}: robot must run in the suite's root.
        subprocess.run(args, cwd=suite, env=env, stdout=log, stderr=subprocess.STDOUT, check=False)


def outcomes(output_xml: Path, marker: str | None) -> list[Outcome]:
    """Every test of robot's ``output.xml``; ``marker`` in a file's text marks it an extension."""
    results = []
    suites = [ET.parse(output_xml).getroot().find("suite")]
    while suites:
        suite = suites.pop()
        if suite is None:
            continue
        suites += suite.findall("suite")
        source = Path(suite.get("source") or "")
        if source.suffix != ".robot":
            continue
        extension = marker is not None and marker in source.read_text(encoding="utf-8")
        folder = source.parent.as_posix().split("TP/NGSI-LD/", 1)[-1]
        area = next((a for a in AREAS if folder == a or folder.startswith(f"{a}/")), folder)
        for test in suite.findall("test"):
            status = test.find("status")
            passed = status is not None and status.get("status") == "PASS"
            message = " ".join(((status.text if status is not None else "") or "").split())
            results.append(
                Outcome(area, source.name, test.get("name", ""), passed, message, extension)
            )
    return results


def report(results: list[Outcome]) -> str:
    """A table of tests passed per area (those of ``AREAS``), official tests and extensions
    apart, with totals."""
    tally: dict[tuple[str, bool], list[int]] = collections.defaultdict(lambda: [0, 0])
    for outcome in results:
        for key in ((outcome.area, outcome.extension), ("total", outcome.extension)):
            tally[key][0] += outcome.passed
            tally[key][1] += 1
    lines = [f"{'area':34} {'passed':>9} {'share':>7}"]
    for extension in (False, True):
        rows = sorted(key for key in tally if key[1] is extension and key[0] != "total")
        if not rows:
            continue
        lines.append("extensions" if extension else "official tests")
        for key in [*rows, ("total", extension)]:
            passed, total = tally[key]
            lines.append(f"  {key[0]:32} {passed:>4}/{total:<4} {100 * passed / total:6.1f}%")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the suite, print the table; exit 1 if no test ran."""
    parser = argparse.ArgumentParser(prog="python -m bench conformance", description=__doc__)
    parser.add_argument("--suite", type=Path, required=True, help="the test suite's root folder")
    parser.add_argument("--robot", default="robot", help="the robot command (default: on PATH)")
    parser.add_argument("--storage", default=None, help="a storage URL (default: a new SQLite)")
    parser.add_argument("--out", type=Path, default=Path("conformance-results"))
    parser.add_argument(
        "--context",
        action="append",
        default=[],
        metavar="URL=FILE",
        help="serve the @context at URL from FILE instead of fetching it (repeatable)",
    )
    parser.add_argument(
        "--extension-marker",
        default=None,
        metavar="TEXT",
        help="count test files containing TEXT as extensions, apart from the official tests",
    )
    parser.add_argument("areas", nargs="*", default=list(AREAS), help="areas under TP/NGSI-LD")
    args = parser.parse_args(argv)
    robot = robot_command(args.robot)
    suite = args.suite.resolve()
    contexts = suite_contexts(suite)
    for pair in args.context:
        url, _, file = pair.partition("=")
        if not file or not Path(file).is_file():
            parser.error(f"--context {pair}: give URL=FILE with an existing file")
        contexts[url] = Path(file).resolve()
    files = robot_files(suite, tuple(args.areas))
    out = args.out.resolve()
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="stadsnav-conformance-") as temp:
        storage = args.storage or f"sqlite:///{Path(temp) / 'stadsnav.db'}"
        with broker(Path(temp), storage, contexts) as server:
            progress("conformance", f"{len(files)} test files against port {server.port}")
            run_robot(robot, suite, files, server.port, out)
        shutil.copyfile(Path(temp) / "stadsnav.log", out / "stadsnav.log")
    results = outcomes(out / "output.xml", args.extension_marker)
    failures = [
        f"{'ext ' if o.extension else ''}{o.area}/{o.file} | {o.name} | {o.message}"
        for o in results
        if not o.passed
    ]
    (out / "failures.txt").write_text("\n".join(failures) + "\n")
    print(report(results))
    print(f"failures: {out / 'failures.txt'}; robot's report: {out / 'report.html'}")
    return 0 if results else 1
