"""open_store: URL parsing for the context store."""

from __future__ import annotations

from pathlib import Path

import pytest

from stadsnav.store.factory import open_store
from stadsnav.store.migrate import load_migrations
from stadsnav.store.postgres import PostgresStore
from stadsnav.store.sqlite import SqliteStore

ALL_VERSIONS = [m.version for m in load_migrations("sqlite")]


def test_relative_sqlite_url_is_relative_to_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_store("sqlite:///var/stadsnav/context.db")
    assert isinstance(store, SqliteStore)
    assert store.path == Path("var/stadsnav/context.db")
    assert (tmp_path / "var" / "stadsnav").is_dir()
    assert store.migrate() == ALL_VERSIONS
    store.close()
    assert (tmp_path / "var" / "stadsnav" / "context.db").is_file()


def test_absolute_sqlite_url(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/nested/context.db")
    assert isinstance(store, SqliteStore)
    assert store.path == tmp_path / "nested" / "context.db"
    assert store.path.is_absolute()
    assert store.path.parent.is_dir()


@pytest.mark.parametrize(
    "url",
    ["postgresql://stadsnav:secret@db.sundsvall.se:5432/stadsnav", "postgres:///stadsnav"],
)
def test_postgres_urls_open_a_postgres_store_without_connecting(url: str) -> None:
    store = open_store(url)
    assert isinstance(store, PostgresStore)
    assert store.conninfo == url
    assert store.schema is None


@pytest.mark.parametrize(
    "url", ["mysql://stadsnav:secret@db/stadsnav", "sqlite://context.db", "context.db", ""]
)
def test_unsupported_urls_name_the_supported_schemes(url: str) -> None:
    with pytest.raises(ValueError, match=r"sqlite:///.*postgresql://") as raised:
        open_store(url)
    assert "secret" not in str(raised.value)


@pytest.mark.parametrize("url", ["sqlite:///", "sqlite:///:memory:", "sqlite:///data/"])
def test_sqlite_url_needs_a_file_path(url: str) -> None:
    with pytest.raises(ValueError, match="file path"):
        open_store(url)
