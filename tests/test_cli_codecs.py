"""``stadsnav codecs import|test|list`` and ``stadsnav decode``."""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson
import pytest
import typer
from typer.testing import CliRunner

from stadsnav.cli_codecs import codecs_app, decode
from support import REPO_ROOT

TTN_REPO = REPO_ROOT / "tests" / "fixtures" / "ttn-repo"

app = typer.Typer()
app.add_typer(codecs_app, name="codecs")
app.command()(decode)
runner = CliRunner(env={"COLUMNS": "250"})


@pytest.fixture
def imported(tmp_path: Path) -> Path:
    """A workspace (settings only) with the fixture repository's codecs imported."""
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    shutil.copyfile(REPO_ROOT / "workspaces/demo/stadsnav.toml", workspace / "stadsnav.toml")
    result = runner.invoke(app, ["codecs", "import", str(TTN_REPO), str(workspace)])
    assert result.exit_code == 0, result.output
    assert "imported 3 codec(s) with 7 example(s)" in result.output
    return workspace


def test_import_of_a_folder_without_codecs_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["codecs", "import", str(tmp_path), str(tmp_path / "ws")])
    assert result.exit_code == 2
    assert "no vendor/<vendor>/<model>-codec.yaml files" in result.output


def test_test_reports_each_example_and_exits_1_on_a_failure(imported: Path) -> None:
    result = runner.invoke(app, ["codecs", "test", str(imported)])
    assert result.exit_code == 1
    rows = [line for line in result.output.splitlines() if "│" in line]
    assert len([row for row in rows if "pass" in row]) == 6
    [failed] = [row for row in rows if "FAIL" in row]
    assert "broken/thrower" in failed
    assert "data.first: expected 8, got 7" in failed
    assert "6 passed, 1 failed" in result.output


def test_test_of_one_codec_whose_examples_pass_exits_0(imported: Path) -> None:
    result = runner.invoke(app, ["codecs", "test", str(imported), "nordtest/tlv-sensor"])
    assert result.exit_code == 0, result.output
    assert "4 passed, 0 failed" in result.output
    unknown = runner.invoke(app, ["codecs", "test", str(imported), "nordtest/none"])
    assert unknown.exit_code == 2


def test_list_shows_native_and_imported_ids(
    imported: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(imported)
    result = runner.invoke(app, ["codecs", "list"])
    assert result.exit_code == 0, result.output
    kinds = {
        cells[0]: cells[1]
        for line in result.output.splitlines()
        if len(cells := [c.strip() for c in line.strip("│ ").split("│")]) == 2
    }
    assert kinds["elsys/elt-2"] == "native"
    assert kinds["nordtest/tlv-sensor"] == "javascript"
    assert kinds["nordtest/legacy-counter"] == "javascript"


@pytest.mark.parametrize(
    ("codec", "payload"),
    [("elsys/elt-2", ["--hex", "070d8a0c00c1"]), ("nordtest/tlv-sensor", ["--b64", "Bw2KDADB"])],
)
def test_decode_prints_the_result_as_json(imported: Path, codec: str, payload: list[str]) -> None:
    args = ["decode", "--codec", codec, "--fport", "5", *payload, "--workspace", str(imported)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.stdout) == {
        "data": {"vdd": 3466, "externalTemperature": 19.3},
        "warnings": [],
        "errors": [],
    }


def test_decode_finds_imported_codecs_in_the_current_workspace(
    imported: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(imported)
    result = runner.invoke(
        app, ["decode", "--codec", "nordtest/legacy-counter", "--fport", "2", "--hex", "00011170"]
    )
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.stdout)["data"] == {"port": 2, "pulses": 70000}


def test_decode_exits_1_when_the_codec_reports_errors(imported: Path) -> None:
    args = ["decode", "--codec", "broken/thrower", "--fport", "1", "--hex", ""]
    result = runner.invoke(app, [*args, "--workspace", str(imported)])
    assert result.exit_code == 1
    assert orjson.loads(result.stdout)["errors"] == ["decodeUplink threw Error: empty payload"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--codec", "nordtest/tlv-sensr", "--hex", "00"], "close matches: nordtest/tlv-sensor"),
        (["--codec", "elsys/ers", "--hex", "0g"], "the payload does not decode"),
        (["--codec", "elsys/ers", "--b64", "!!"], "the payload does not decode"),
        (["--codec", "elsys/ers"], "exactly one of --hex and --b64"),
        (["--codec", "elsys/ers", "--hex", "00", "--b64", "AA=="], "exactly one of"),
    ],
)
def test_decode_usage_errors_exit_2(imported: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["decode", "--fport", "5", *args, "--workspace", str(imported)])
    assert result.exit_code == 2
    assert message in result.output
