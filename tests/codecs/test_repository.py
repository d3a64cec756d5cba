"""Codecs in the TTN device repository layout: import into a workspace, load, run examples."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from stadsnav.codecs.registry import get_codec
from stadsnav.codecs.repository import (
    CodecFileError,
    CodecSpec,
    import_codecs,
    load_workspace_codecs,
    read_codec,
    run_examples,
    workspace_codec_ids,
    workspace_codec_specs,
)
from support import REPO_ROOT, SUNDSVALL_BEACH_PAYLOAD

TTN_REPO = REPO_ROOT / "tests" / "fixtures" / "ttn-repo"
IMPORTED = ["broken/thrower", "nordtest/legacy-counter", "nordtest/tlv-sensor"]


def test_reads_a_codec_file_with_its_examples() -> None:
    spec = read_codec("nordtest", TTN_REPO / "vendor/nordtest/tlv-sensor-codec.yaml")
    assert spec.id == "nordtest/tlv-sensor"
    assert spec.script_file.name == "tlv-sensor.js"
    first, second = spec.examples[:2]
    assert (first.payload, first.f_port, first.recv_time) == (SUNDSVALL_BEACH_PAYLOAD, 5, None)
    assert first.output == {"data": {"vdd": 3466, "externalTemperature": 19.3}}
    assert second.recv_time == datetime(2024, 6, 1, 12, tzinfo=UTC)
    assert len(spec.examples) == 4


def test_import_copies_yaml_and_script_into_the_workspace(tmp_path: Path) -> None:
    seen: list[str] = []
    imported = import_codecs(TTN_REPO, tmp_path, lambda codec: seen.append(codec.id))
    assert [codec.id for codec in imported] == seen == IMPORTED
    assert all(codec.ok for codec in imported)
    assert [codec.examples for codec in imported] == [2, 1, 4]
    source = TTN_REPO / "vendor/nordtest/tlv-sensor.js"
    assert (tmp_path / "codecs/nordtest/tlv-sensor.js").read_text() == source.read_text()
    assert (tmp_path / "codecs/nordtest/tlv-sensor-codec.yaml").is_file()
    assert not (tmp_path / "codecs/nordtest/index.yaml").exists()
    assert workspace_codec_ids(tmp_path) == IMPORTED


def test_unusable_codec_files_are_skipped_with_the_reason(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    vendor = repo / "vendor" / "acme"
    vendor.mkdir(parents=True)
    (vendor / "ghost-codec.yaml").write_text("uplinkDecoder:\n  fileName: ghost.js\n")
    (vendor / "downlink-only-codec.yaml").write_text("downlinkEncoder:\n  fileName: d.js\n")
    (vendor / "bad-example-codec.yaml").write_text(
        "uplinkDecoder:\n  fileName: ok.js\n  examples:\n    - input: {bytes: [1]}\n"
    )
    (vendor / "ok.js").write_text("function decodeUplink(i) { return { data: {} }; }")
    imported = import_codecs(repo, tmp_path / "ws")
    problems = {codec.id: codec.problem for codec in imported}
    assert problems == {
        "acme/bad-example": f"{vendor / 'bad-example-codec.yaml'}: an example is not "
        "{input: {bytes, fPort}, output}",
        "acme/downlink-only": f"{vendor / 'downlink-only-codec.yaml'}: no uplinkDecoder.fileName",
        "acme/ghost": f"{vendor / 'ghost-codec.yaml'}: script ghost.js not found",
    }
    assert not (tmp_path / "ws" / "codecs").exists()


def test_loaded_workspace_codecs_decode(tmp_path: Path) -> None:
    import_codecs(TTN_REPO, tmp_path)
    codecs = load_workspace_codecs(tmp_path)
    assert sorted(codecs) == IMPORTED
    with codecs["nordtest/tlv-sensor"] as codec:
        assert codec.decode_uplink(SUNDSVALL_BEACH_PAYLOAD, 5).data == {
            "vdd": 3466,
            "externalTemperature": 19.3,
        }
    for other in codecs.values():
        other.close()


def test_examples_pass_or_fail_with_the_difference(tmp_path: Path) -> None:
    import_codecs(TTN_REPO, tmp_path)
    specs = {s.id: s for s in workspace_codec_specs(tmp_path) if isinstance(s, CodecSpec)}
    with specs["nordtest/tlv-sensor"].codec() as codec:
        results = run_examples(codec, specs["nordtest/tlv-sensor"].examples)
    assert [r.passed for r in results] == [True, True, True, True]
    with specs["broken/thrower"].codec() as codec:
        good, wrong = run_examples(codec, specs["broken/thrower"].examples)
    assert good.passed
    assert not wrong.passed
    assert wrong.diff == ["data.first: expected 8, got 7"]
    assert wrong.actual == {"data": {"first": 7}, "warnings": [], "errors": []}


def test_examples_also_check_a_native_codec_and_tell_booleans_from_numbers() -> None:
    spec = read_codec("nordtest", TTN_REPO / "vendor/nordtest/tlv-sensor-codec.yaml")
    [sundsvall] = run_examples(get_codec("elsys/elt-2"), spec.examples[:1])
    assert sundsvall.passed
    changed = type(spec.examples[0])(
        "vdd as a boolean", SUNDSVALL_BEACH_PAYLOAD, 5, None, {"data": {"vdd": True}}
    )
    [result] = run_examples(get_codec("elsys/elt-2"), [changed])
    assert result.diff == [
        "data.externalTemperature: unexpected 19.3",
        "data.vdd: expected True, got 3466",
    ]


def test_a_broken_workspace_codec_file_is_reported_not_loaded(tmp_path: Path) -> None:
    import_codecs(TTN_REPO, tmp_path)
    (tmp_path / "codecs/broken/thrower.js").unlink()
    found = list(workspace_codec_specs(tmp_path))
    errors = [item for item in found if isinstance(item, CodecFileError)]
    assert [str(e) for e in errors] == [
        f"{tmp_path / 'codecs/broken/thrower-codec.yaml'}: script thrower.js not found"
    ]
    assert sorted(load_workspace_codecs(tmp_path)) == IMPORTED[1:]


@pytest.mark.parametrize("missing", ["vendor", "vendor/nordtest"])
def test_a_folder_without_codecs_imports_nothing(tmp_path: Path, missing: str) -> None:
    (tmp_path / missing).mkdir(parents=True)
    assert import_codecs(tmp_path, tmp_path / "ws") == []
