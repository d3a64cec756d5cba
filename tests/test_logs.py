"""Logs are one JSON object per line, our own and the libraries' alike."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import orjson
import pytest
import structlog

from stadsnav.logs import configure_logging


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


def test_platform_and_library_records_are_json(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO")
    structlog.get_logger("stadsnav.pipeline").info("dead_letter", stage="decode")
    logging.getLogger("uvicorn.error").info("Started server process [%d]", 42)
    logging.getLogger("noisy").debug("not shown at INFO")
    lines = [orjson.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(r["logger"], r["event"], r["level"]) for r in lines] == [
        ("stadsnav.pipeline", "dead_letter", "info"),
        ("uvicorn.error", "Started server process [42]", "info"),
    ]
    assert lines[0]["stage"] == "decode"
    assert lines[0]["timestamp"].endswith("Z")
