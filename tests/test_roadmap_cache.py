"""Unit tests of pytest_roadmap.model.load: parsed roadmaps kept as JSON."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings

from pytest_roadmap.model import load as load_module
from pytest_roadmap.model.load import KEEP
from pytest_roadmap.model.load import ParsedCache
from pytest_roadmap.model.load import decode
from pytest_roadmap.model.load import encode
from pytest_roadmap.model.load import load_roadmap
from pytest_roadmap.model.roadmap import Roadmap
from pytest_roadmap.model.roadmap import RoadmapError

from .conftest import TWO_GROUPS
from .test_roadmap import roadmaps


@settings(max_examples=100, deadline=None)
@given(roadmaps())
def test_encode_decode_round_trip(roadmap: Roadmap) -> None:
    back = decode(encode(roadmap))
    assert back == roadmap
    assert back.settings == roadmap.settings


def write(tmp_path: Path, text: str = TWO_GROUPS) -> Path:
    path = tmp_path / "ROADMAP.md"
    path.write_text(text, encoding="utf-8")
    return path


def no_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(text: str, path: str = "") -> Roadmap:
        raise AssertionError("parsed again")

    monkeypatch.setattr(load_module, "parse_roadmap", refuse)


def test_second_load_comes_from_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = ParsedCache(tmp_path / "cache")
    path = write(tmp_path)
    first = load_roadmap(path, cache)
    no_parsing(monkeypatch)
    with pytest.raises(AssertionError, match="parsed again"):  # the stand-in is the one used
        load_roadmap(path)
    assert load_roadmap(path, cache) == first


def test_an_edited_roadmap_is_parsed_again(tmp_path: Path) -> None:
    cache = ParsedCache(tmp_path / "cache")
    path = write(tmp_path)
    load_roadmap(path, cache)
    write(tmp_path, TWO_GROUPS.replace("First task", "Renamed task"))
    assert load_roadmap(path, cache).phases[0].groups[0].tasks[0].title == "Renamed task"


def test_a_damaged_entry_is_a_miss(tmp_path: Path) -> None:
    cache = ParsedCache(tmp_path / "cache")
    path = write(tmp_path)
    expected = load_roadmap(path, cache)
    for entry in (tmp_path / "cache").iterdir():
        entry.write_text('{"phases": [[1, "x"]]', encoding="utf-8")
    assert load_roadmap(path, cache) == expected


def test_errors_are_not_cached_and_unwritable_caches_do_not_matter(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a directory", encoding="utf-8")
    cache = ParsedCache(blocked / "cache")
    assert load_roadmap(write(tmp_path), cache).phases
    bad = write(tmp_path, "## Phase 1: X\n### Group A: Y\n- **A1: T**\n- **A1: T**\n")
    cache = ParsedCache(tmp_path / "cache")
    for _ in range(2):
        with pytest.raises(RoadmapError):
            load_roadmap(bad, cache)
    assert not list((tmp_path / "cache").glob("*.json"))


def test_old_entries_are_pruned(tmp_path: Path) -> None:
    cache = ParsedCache(tmp_path / "cache")
    for index in range(KEEP + 3):
        load_roadmap(write(tmp_path, TWO_GROUPS.replace("First", f"First {index}")), cache)
    assert len(list((tmp_path / "cache").glob("*.json"))) == KEEP
