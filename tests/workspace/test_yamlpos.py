"""Line positions of YAML keys and items, and the mapping of pydantic locs onto them."""

from __future__ import annotations

import pytest
import yaml

from stadsnav.workspace.yamlpos import error_line, format_path, load_yaml, resolve

TEXT = """\
# comment
id: tts
source:
  type: webhook
devices:
  - dev_eui: a1
    name: one
  - {dev_eui: a2, name: two}
1: numeric key
"""


def test_lines_of_keys_and_items() -> None:
    doc = load_yaml(TEXT)
    lines = doc.positions
    assert lines.line(("id",)) == 2
    assert lines.line(("source", "type")) == 4
    assert lines.line(("devices", 0)) == 6
    assert lines.line(("devices", 0, "name")) == 7
    assert lines.line(("devices", 1, "name")) == 8
    assert lines.line((1,)) == 9
    assert lines.line(("devices", 1, "missing", "deeper")) == 8
    assert doc.data["devices"][1] == {"dev_eui": "a2", "name": "two"}


def test_resolve_drops_union_tags_keeps_missing_leaf() -> None:
    data = load_yaml(TEXT).data
    assert resolve(("source", "webhook", "format"), data) == ("source", "format")
    assert resolve(("devices", 1, "codec"), data) == ("devices", 1, "codec")
    assert format_path(("devices", 1, "codec")) == "devices[1].codec"


def test_duplicate_keys_reported() -> None:
    doc = load_yaml("a: 1\nb: 2\na: 3\n")
    assert doc.duplicates == [(("a",), 3, 1)]


def test_syntax_error_line() -> None:
    with pytest.raises(yaml.YAMLError) as caught:
        load_yaml("a: 1\nb: [2\nc: 3\n")
    assert error_line(caught.value) == 3


def test_empty_document() -> None:
    assert load_yaml("# nothing\n").data is None
