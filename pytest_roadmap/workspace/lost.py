"""Work lost from the shared tree since its last snapshot, found and put back.

A change is *pending* when the last snapshot differs from the base (HEAD's tree when the
phase began). It is *lost* when the tree now has the path as the base had it again (a
``git reset --hard``, ``checkout -- .``, ``stash`` or ``clean``), or, where the path
changed since, when none of the lines the change added are left (a change that only
removed lines: when they are all back).
A lost change is put back: as the snapshot had it, or by a 3-way merge (``git merge-file``)
onto what the path holds now. A merge that conflicts is left to the user.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Literal

from pytest_roadmap.workspace.git import WorkspaceError
from pytest_roadmap.workspace.git import run_git
from pytest_roadmap.workspace.snapshot import Change
from pytest_roadmap.workspace.snapshot import Snapshot
from pytest_roadmap.workspace.snapshot import Snapshots

#: lines shorter than this (braces, blank lines) say nothing about whose change is left
SIGNIFICANT = 3


@dataclass
class Restored:
    """What was put back, by owner, and what could not be."""

    #: path -> the owner of the change put back
    paths: dict[str, str] = field(default_factory=dict)
    #: path -> the owner of the change that a merge could not put back
    conflicts: dict[str, str] = field(default_factory=dict)
    #: the snapshot the changes come from
    source: str = ""

    def owners(self) -> list[str]:
        """The owners whose work was put back, in first-seen order."""
        return list(dict.fromkeys(self.paths.values()))


def restore(
    snaps: Snapshots,
    base: str,
    last: Snapshot,
    now: Snapshot,
    owners: Mapping[str, str],
    merge: bool = True,
) -> Restored:
    """Put back the pending changes of ``owners``' paths that were lost since ``last``;
    without ``merge`` only those of paths that are as the base had them (a path changed
    since is taken as edited on purpose: a repair agent's fix)."""
    top = snaps.top
    pending = snaps.changes(base, last.tree)
    moved = snaps.changes(last.tree, now.tree)
    done = Restored(source=last.ref)
    plain: list[str] = []
    for path in sorted(pending.keys() & moved.keys() & owners.keys()):
        was, current = pending[path], moved[path].new
        if current == was.old:  # as the base had it: the whole change is gone
            if was.new is None:
                (top / path).unlink(missing_ok=True)
            else:
                plain.append(path)
            done.paths[path] = owners[path]
        elif merge and was.new is not None and current is not None:
            merged = _merge(snaps, was, current)
            if merged is False:
                done.conflicts[path] = owners[path]
            elif merged is not None:
                _write(top / path, merged)
                done.paths[path] = owners[path]
    snaps.checkout(last.commit, plain)
    return done


def _merge(snaps: Snapshots, was: Change, current: str) -> bytes | Literal[False] | None:
    """The path with the lost change merged back; None when nothing was lost; False on a
    conflict (or a binary file)."""
    base = snaps.blob(was.old) or b""
    kept = snaps.blob(was.new) or b""
    now = snaps.blob(current) or b""
    if not _undone(base, kept, now):
        return None
    if b"\0" in base + kept + now:
        return False
    scratch = snaps.git_dir / "roadmap-merge"
    scratch.mkdir(exist_ok=True)
    files = {name: scratch / name for name in ("current", "base", "snapshot")}
    for name, data in zip(files, (now, base, kept), strict=True):
        files[name].write_bytes(data)
    try:
        run_git(scratch, "merge-file", *map(str, files.values()))
        return files["current"].read_bytes()
    except WorkspaceError:
        return False
    finally:
        for path in files.values():
            path.unlink(missing_ok=True)


def _undone(base: bytes, kept: bytes, now: bytes) -> bool:
    """True when ``now`` holds none of the lines the change added (or, when it only
    removed lines, all of them again)."""
    before, after, current = _lines(base), _lines(kept), _lines(now)
    added, removed = after - before, before - after
    if added:
        return not added & current
    return bool(removed) and not removed - current


def _lines(data: bytes) -> Counter[bytes]:
    return Counter(line.strip() for line in data.splitlines() if len(line.strip()) >= SIGNIFICANT)


def _write(path: Path, data: bytes) -> None:
    """Replace the file's content, keeping its mode."""
    tmp = path.with_name(f".{path.name}.roadmap-restore")
    tmp.write_bytes(data)
    if path.exists():
        os.chmod(tmp, path.stat().st_mode)
    os.replace(tmp, path)


def recovery_command(ref: str, path: str) -> str:
    """The command that brings ``path`` back as snapshot ``ref`` has it."""
    return f"git restore --source={ref} -- {path}"
