"""The codec registry: ids, lookup, and the error for an unknown id."""

from __future__ import annotations

from pathlib import Path

import pytest

from stadsnav.codecs import registry
from stadsnav.codecs.registry import UnknownCodecError, codec_ids, get_codec


def test_codec_ids_are_sorted_and_include_elsys_models() -> None:
    ids = codec_ids()
    assert ids == sorted(ids)
    assert len(ids) == len(set(ids))
    for expected in ("elsys/ers", "elsys/ers-co2", "elsys/ers-sound", "elsys/elt-2", "elsys/ems"):
        assert expected in ids


def test_get_codec_returns_the_codec_with_that_id() -> None:
    codec = get_codec("elsys/ers-co2")
    assert codec.id == "elsys/ers-co2"
    result = codec.decode_uplink(bytes.fromhex("070d8a0c00c1"), 5)
    assert result.data == {"externalTemperature": 19.3, "vdd": 3466}


def test_every_listed_id_resolves() -> None:
    assert [get_codec(codec_id).id for codec_id in codec_ids()] == codec_ids()


def test_unknown_id_is_a_lookup_error_naming_close_matches() -> None:
    with pytest.raises(UnknownCodecError) as caught:
        get_codec("elsys/ers-c02")
    assert isinstance(caught.value, LookupError)
    assert caught.value.codec_id == "elsys/ers-c02"
    assert "elsys/ers-co2" in caught.value.suggestions
    assert str(caught.value).startswith("unknown codec id 'elsys/ers-c02'; close matches: ")
    assert "elsys/ers-co2" in str(caught.value)


def test_model_without_vendor_suggests_the_vendor_id() -> None:
    with pytest.raises(UnknownCodecError, match="elsys/ems-door"):
        get_codec("ems-door")


def test_unknown_id_without_close_matches() -> None:
    with pytest.raises(UnknownCodecError) as caught:
        get_codec("acme/flux-capacitor")
    assert caught.value.suggestions == []
    assert str(caught.value) == "unknown codec id 'acme/flux-capacitor'"


def test_codecs_of_installed_packages_are_registered_by_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A third-party package names its codec module in the ``stadsnav.codecs`` group."""
    (tmp_path / "acme_codecs.py").write_text(
        "from stadsnav.codecs.elsys import ElsysCodec\nCODECS = [ElsysCodec('acme/probe-1')]\n"
    )
    info = tmp_path / "acme_codecs-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-codecs\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[stadsnav.codecs]\nacme = acme_codecs\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    codecs = registry._native_codecs()
    assert codecs["acme/probe-1"].decode_uplink(bytes.fromhex("070d8a0c00c1"), 5).data == {
        "vdd": 3466,
        "externalTemperature": 19.3,
    }
    assert "elsys/elt-2" in codecs
