"""Reading a roadmap file, and parsed roadmaps kept in pytest's cache directory, so that a
roadmap is parsed once.

Every run, every xdist worker and the status view parse the same file; a 10,000-task
roadmap takes about 0.6 s to parse and a few hundredths of a second to load as JSON. An
entry is found by the SHA-256 of the parser's own source, the roadmap's path and its
bytes, so any change to either misses. Entries are plain JSON (nothing in the cache can
run code); anything unreadable counts as a miss, and no failure to write stops a run.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from pytest_roadmap.model import checks as checks_module
from pytest_roadmap.model import roadmap as roadmap_module
from pytest_roadmap.model.checks import TaskCheck
from pytest_roadmap.model.roadmap import Group
from pytest_roadmap.model.roadmap import Phase
from pytest_roadmap.model.roadmap import Roadmap
from pytest_roadmap.model.roadmap import RoadmapError
from pytest_roadmap.model.roadmap import Task
from pytest_roadmap.model.roadmap import parse_roadmap
from pytest_roadmap.paths import atomic_write

KEEP = 4  # entries kept: a few roadmaps, or versions of one, in the same project
SUFFIX = ".json"


class ParsedCache:
    """Parsed :class:`Roadmap` objects, one JSON file each, in one directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def get(self, data: bytes, name: str) -> Roadmap | None:
        """The roadmap parsed from ``data`` at ``name`` earlier, or None."""
        try:
            with open(self._path(data, name), "rb") as handle:
                return decode(json.load(handle))
        except (OSError, ValueError, TypeError, KeyError):  # missing, truncated: parse again
            return None

    def put(self, data: bytes, name: str, roadmap: Roadmap) -> None:
        """Keep ``roadmap`` for ``data``; drop the oldest entries beyond KEEP."""
        try:
            text = json.dumps(encode(roadmap), ensure_ascii=False, separators=(",", ":"))
        except (TypeError, ValueError):  # front matter YAML gave a value JSON cannot hold
            return
        with contextlib.suppress(OSError):
            atomic_write(self._path(data, name), text, durable=False)
            self._prune()

    def _path(self, data: bytes, name: str) -> Path:
        digest = hashlib.sha256(_parser_digest())
        digest.update(os.fsencode(name) + b"\0" + data)
        return self.directory / f"{digest.hexdigest()}{SUFFIX}"

    def _prune(self) -> None:
        entries = sorted(
            self.directory.glob(f"*{SUFFIX}"), key=lambda path: path.stat().st_mtime, reverse=True
        )
        for old in entries[KEEP:]:
            old.unlink(missing_ok=True)


@functools.cache
def _parser_digest() -> bytes:
    """Changes whenever the parser's source does (the checks' parser included)."""
    digest = hashlib.sha256(Path(roadmap_module.__file__).read_bytes())
    digest.update(Path(checks_module.__file__).read_bytes())
    return digest.digest()


def encode(roadmap: Roadmap) -> dict[str, Any]:
    """``roadmap`` as JSON-ready lists (field order as in the dataclasses)."""
    return {
        "path": roadmap.path,
        "settings": roadmap.settings,
        "phases": [
            [
                phase.number,
                phase.title,
                phase.line,
                [
                    [group.id, group.title, group.line, [_task(task) for task in group.tasks]]
                    for group in phase.groups
                ],
            ]
            for phase in roadmap.phases
        ],
    }


def decode(data: dict[str, Any]) -> Roadmap:
    """The roadmap :func:`encode` gave ``data`` for."""
    phases = tuple(
        Phase(
            number,
            title,
            line,
            tuple(
                Group(gid, gtitle, gline, tuple(_decode_task(*task) for task in tasks))
                for gid, gtitle, gline, tasks in groups
            ),
        )
        for number, title, line, groups in data["phases"]
    )
    return Roadmap(data["path"], phases, dict(data["settings"]))


def _task(task: Task) -> list[object]:
    checks = [[check.text, check.is_test] for check in task.checks]
    return [task.id, task.title, task.text, task.line, task.done, checks]


def _decode_task(
    task_id: str, title: str, text: str, line: int, done: bool, checks: list[list[Any]]
) -> Task:
    return Task(task_id, title, text, line, done, tuple(TaskCheck(*check) for check in checks))


def load_roadmap(path: str | os.PathLike[str], cache: ParsedCache | None = None) -> Roadmap:
    """Read and parse a roadmap file (UTF-8); ``cache`` keeps the result for the next time."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        raise RoadmapError(f"{name}: roadmap not found") from None
    except OSError as exc:
        raise RoadmapError(f"{name}: cannot read roadmap ({exc.strerror or exc})") from None
    if cache is not None and (parsed := cache.get(data, name)) is not None:
        return parsed
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RoadmapError(f"{name}: not UTF-8 text (byte {exc.start})") from None
    roadmap = parse_roadmap(text, name)
    if cache is not None:
        cache.put(data, name, roadmap)
    return roadmap
