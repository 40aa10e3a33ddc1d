"""Benchmark 7: the cost of the shared tree's snapshots, per task, next to ``git status``.

A repository of 10,000 committed files (smoke: 1,000). Each round, a "task" changes 20
files and adds 10; then, measured in turn in the same round: ``git status --porcelain``
(what any look at the tree costs), one snapshot (``Snapshots.take``: a temporary index,
``add``, ``write-tree``, ``commit-tree``, ``update-ref``) and one guard check (a snapshot
plus the comparison with the last one, :func:`pytest_roadmap.workspace.lost.restore`,
which finds nothing lost). The first snapshot of a run seeds its index from the real one
and is shown on its own. Medians of the rounds.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from common import Result
from common import Table
from common import Target
from common import clean_env
from common import fmt
from common import log
from common import median
from common import project

MODES: dict[str, tuple[int, int]] = {
    "full": (10_000, 15),
    "quick": (10_000, 5),
    "smoke": (1_000, 3),
}
#: a check may cost this many ``git status`` (it runs once per task, agents take minutes)
TARGET_RATIO = 6.0


def _files(count: int) -> dict[str, str]:
    """``count`` small source files, 100 to a directory."""
    return {f"src/d{n // 100:03d}/f{n:05d}.py": f"value = {n}\n" * 5 for n in range(count)}


def _task(path: Path, size: int, round_: int) -> None:
    """One task's work: 20 files changed (spread over the tree), 10 new."""
    for n in range(0, size, size // 20):
        target = path / f"src/d{n // 100:03d}/f{n:05d}.py"
        target.write_text(f"value = {round_}\n", encoding="utf-8")
    for n in range(10):
        (path / f"src/new{round_}_{n}.py").write_text(f"new = {n}\n", encoding="utf-8")


def _seconds(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def run(mode: str) -> Result:
    from pytest_roadmap.workspace.lost import restore
    from pytest_roadmap.workspace.snapshot import Snapshots
    from pytest_roadmap.workspace.snapshot import head_tree

    size, rounds = MODES[mode]
    log(f"snapshots: {size} files, {rounds} rounds")
    with project("snapshots", _files(size)) as proj:
        path = proj.path
        env = clean_env()

        def status() -> None:
            subprocess.run(
                ["git", "status", "--porcelain"],
                cwd=path,
                env=env,
                check=True,
                capture_output=True,
                timeout=300,
            )

        snaps = Snapshots(path, "bench")
        base = head_tree(path)
        first = _seconds(lambda: snaps.take("start"))
        last = snaps.take("seeded")
        status_s, take_s, check_s = [], [], []
        for round_ in range(rounds):
            _task(path, size, round_)
            status_s.append(_seconds(status))
            take_s.append(_seconds(lambda: snaps.take("round")))
            _task(path, size, round_ + 1000)

            def check() -> None:
                nonlocal last
                now = snaps.take("check")
                restore(snaps, base, last, now, {})
                last = now

            check_s.append(_seconds(check))
        snaps.close()
    status_ms, take_ms, check_ms = (median(v) * 1000 for v in (status_s, take_s, check_s))
    ratio = check_ms / status_ms
    table = Table(
        f"Snapshots of a {size:,}-file tree (median of {rounds} rounds)",
        ["what", "ms", "/ git status"],
        notes=[
            "each round a task changes 20 files and adds 10; all measured in the same round",
            "check = snapshot + comparison with the last one (what the guard does per task)",
        ],
    )
    table.rows += [
        ["git status --porcelain", fmt(status_ms, 1), "1.00"],
        ["first snapshot of a run", fmt(first * 1000, 1), fmt(first * 1000 / status_ms, 2)],
        ["snapshot", fmt(take_ms, 1), fmt(take_ms / status_ms, 2)],
        ["check (per task)", fmt(check_ms, 1), fmt(ratio, 2)],
    ]
    result = Result(tables=[table])
    result.metrics = {"snapshot_task_ms": check_ms, "snapshot_vs_status": ratio}
    result.targets.append(
        Target("snapshot check / git status", ratio, TARGET_RATIO, "", f"{size:,} files")
    )
    result.raw["snapshots"] = {"status_s": status_s, "take_s": take_s, "check_s": check_s}
    return result
