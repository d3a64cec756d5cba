"""The conformance runner: which files it runs, the workspace it serves them from, how it counts."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from stadsnav.workspace.loader import load_workspace

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.common import http_get  # noqa: E402
from bench.conformance import (  # noqa: E402
    SUITE_CONTEXTS,
    Outcome,
    outcomes,
    report,
    robot_command,
    robot_files,
    suite_contexts,
    workspace_toml,
)

from bench import conformance  # noqa: E402

OUTPUT_XML = """<?xml version="1.0" encoding="UTF-8"?>
<robot generator="Robot 7.5">
<suite id="s1" name="Runner">
<suite id="s1-s1" name="001 01" source="{root}/TP/NGSI-LD/{area}/001_01.robot">
<test id="s1-s1-t1" name="001_01_01 Create"><status status="PASS"/></test>
<test id="s1-s1-t2" name="001_01_02 Create Again"><status status="FAIL">409 != 201
and more</status></test>
</suite>
<suite id="s1-s2" name="900 01" source="{root}/TP/NGSI-LD/jsonldContext/900_01.robot">
<test id="s1-s2-t1" name="900_01_01 Extra"><status status="FAIL">boom</status></test>
</suite>
</suite>
</robot>
"""


def robot_file(path: Path, documentation: str = "ETSI test") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"*** Settings ***\nDocumentation    {documentation}\n")
    return path


def test_the_files_of_the_areas_are_run_without_mqtt(tmp_path: Path) -> None:
    base = tmp_path / "TP" / "NGSI-LD" / "ContextInformation" / "Subscription"
    kept = robot_file(base / "CreateSubscription" / "028_01.robot")
    robot_file(base / "SubscriptionNotificationBehaviour" / "MQTT" / "058_01.robot")
    robot_file(tmp_path / "TP" / "NGSI-LD" / "jsonldContext" / "050_01.robot")
    assert robot_files(tmp_path, ("ContextInformation/Subscription",)) == [kept]
    with pytest.raises(SystemExit, match="test suite's root folder"):
        robot_files(tmp_path, ("Nowhere",))


def test_the_workspace_serves_the_given_contexts_on_the_given_port(tmp_path: Path) -> None:
    (tmp_path / "contexts").mkdir()
    (tmp_path / "contexts" / "suite.jsonld").write_text('{"@context": {"Building": "urn:b"}}')
    url = "https://forge.example/ngsi-ld-test-suite-compound.jsonld"
    toml = workspace_toml(8123, "sqlite:///data/x.db", {url: Path("contexts/suite.jsonld")})
    (tmp_path / "stadsnav.toml").write_text(toml)
    settings = load_workspace(tmp_path).settings
    assert settings.server.port == 8123
    assert settings.ngsild.contexts == {url: "contexts/suite.jsonld"}
    assert settings.ngsild.temporal_instances == 10


def test_outcomes_are_read_per_file_with_extensions_apart(tmp_path: Path) -> None:
    robot_file(tmp_path / "TP/NGSI-LD/ContextInformation/Provision/001_01.robot")
    robot_file(tmp_path / "TP/NGSI-LD/jsonldContext/900_01.robot", "A fork's extension TP")
    output = tmp_path / "output.xml"
    output.write_text(OUTPUT_XML.format(root=tmp_path, area="ContextInformation/Provision"))
    results = outcomes(output, "extension TP")
    assert sorted(results, key=lambda o: o.name) == [
        Outcome(
            "ContextInformation/Provision", "001_01.robot", "001_01_01 Create", True, "", False
        ),
        Outcome(
            "ContextInformation/Provision",
            "001_01.robot",
            "001_01_02 Create Again",
            False,
            "409 != 201 and more",
            False,
        ),
        Outcome("jsonldContext", "900_01.robot", "900_01_01 Extra", False, "boom", True),
    ]
    rows = [line.split() for line in report(results).splitlines()[1:]]
    assert rows == [
        ["official", "tests"],
        ["ContextInformation/Provision", "1/2", "50.0%"],
        ["total", "1/2", "50.0%"],
        ["extensions"],
        ["jsonldContext", "0/1", "0.0%"],
        ["total", "0/1", "0.0%"],
    ]


def test_a_missing_context_file_is_refused_before_anything_runs(tmp_path: Path) -> None:
    out = tmp_path / "out"
    arguments = ["--suite", str(tmp_path), "--out", str(out), "--robot", sys.executable]
    with pytest.raises(SystemExit):
        conformance.main([*arguments, "--context", "https://x/c.jsonld=/no/file"])
    assert not out.exists()


def test_the_broker_is_served_from_a_fresh_workspace(tmp_path: Path) -> None:
    served = tmp_path / "suite.jsonld"
    served.write_text('{"@context": {"Building": "https://example.org/Building"}}')
    url = "https://forge.example/suite.jsonld"
    with conformance.broker(tmp_path, f"sqlite:///{tmp_path / 'x.db'}", {url: served}) as server:
        status, _, body = http_get(server.port, "/ngsi-ld/v1/types")
        assert status == 200
        assert b"EntityTypeList" in body
        assert (tmp_path / "workspace" / "contexts" / "0-suite.jsonld").read_text() == (
            served.read_text()
        )


def test_the_suites_own_contexts_are_served_from_its_checkout(tmp_path: Path) -> None:
    folder = tmp_path / "resources" / "jsonld-contexts"
    folder.mkdir(parents=True)
    for name in ("ngsi-ld-test-suite-compound.jsonld", "ngsi-ld-test-suite.jsonld"):
        (folder / name).write_text('{"@context": {}}')
    (folder / "notes.txt").write_text("not a context")
    assert suite_contexts(tmp_path) == {
        f"{SUITE_CONTEXTS}ngsi-ld-test-suite-compound.jsonld": (
            folder / "ngsi-ld-test-suite-compound.jsonld"
        ),
        f"{SUITE_CONTEXTS}ngsi-ld-test-suite.jsonld": folder / "ngsi-ld-test-suite.jsonld",
    }
    # The suite's own compound context names its sibling by exactly that URL.
    compound = REPO_ROOT / "tests" / "fixtures" / "jsonld" / "ngsi-ld-test-suite-compound.jsonld"
    assert f'"{SUITE_CONTEXTS}ngsi-ld-test-suite.jsonld"' in compound.read_text()


def test_a_relative_robot_command_is_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    robot = tmp_path / "venv" / "bin" / "robot"
    robot.parent.mkdir(parents=True)
    robot.write_text("#!/bin/sh\n")
    robot.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    assert robot_command("venv/bin/robot") == str(robot.resolve())
    with pytest.raises(SystemExit, match="install the suite's requirements"):
        robot_command("venv/bin/no-robot")
