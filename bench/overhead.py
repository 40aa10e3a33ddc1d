"""Benchmark 2: per-item overhead, with an agent that costs next to nothing (``true``).

A roadmap of one group of N zero-duration tasks whose agent is ``true`` runs serially and
with ``-n 4``; plain pytest runs N tests that each ``subprocess.run(['true'])``, and N
tests that do nothing, the same ways. Each is also run with a single item, so that the
start-up can be taken out: marginal cost per item = (T(N) - T(1)) / (N - 1).
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from common import Project
from common import Result
from common import Table
from common import Target
from common import clean_env
from common import expect_passed
from common import fmt
from common import layout_of
from common import log
from common import project
from common import pytest_argv
from common import roadmap_argv
from common import roadmap_text
from common import run_timed

TARGET_RATIO = 2.0
PARALLEL = 4

MODES: dict[str, tuple[int, list[int | None], int]] = {
    # items, worker counts (None: serial, no xdist), runs of each (the fastest counts)
    "full": (1000, [None, PARALLEL], 3),
    "quick": (200, [None], 1),
    "smoke": (20, [None], 1),
}

SUBPROCESS_TESTS = """\
import subprocess

import pytest


@pytest.mark.parametrize("i", range({count}))
def test_true(i):
    subprocess.run(["true"], check=True)
"""

TRIVIAL_TESTS = """\
import pytest


@pytest.mark.parametrize("i", range({count}))
def test_nothing(i):
    pass
"""


@dataclass(frozen=True)
class Kind:
    """One way of running N items: a project factory and its command line."""

    name: str
    label: str
    files: Callable[[int], dict[str, str]]
    argv: Callable[[int | None], list[str]]


def _roadmap_files(count: int) -> dict[str, str]:
    return {"ROADMAP.md": roadmap_text(layout_of(1, 1, count))}


def _roadmap_argv(workers: int | None) -> list[str]:
    return roadmap_argv("true", workers=workers)


def _plain_argv(workers: int | None) -> list[str]:
    argv = pytest_argv("-q", "test_items.py")
    return [*argv, "-n", str(workers)] if workers is not None else argv


KINDS = [
    Kind("roadmap", "pytest --roadmap, agent `true`", _roadmap_files, _roadmap_argv),
    Kind(
        "subprocess",
        "plain pytest, each test runs `subprocess.run(['true'])`",
        lambda n: {"test_items.py": SUBPROCESS_TESTS.format(count=n)},
        _plain_argv,
    ),
    Kind(
        "trivial",
        "plain pytest, each test does nothing",
        lambda n: {"test_items.py": TRIVIAL_TESTS.format(count=n)},
        _plain_argv,
    ),
]


@contextmanager
def _projects(kind: Kind, count: int) -> Iterator[tuple[Project, Project]]:
    with (
        project(f"overhead-{kind.name}", kind.files(count)) as big,
        project(f"overhead-{kind.name}-1", kind.files(1)) as one,
    ):
        yield big, one


def _seconds(proj: Project, argv: list[str], items: int, runs: int) -> tuple[float, float]:
    """Wall and CPU seconds (the whole process tree), each the least of ``runs`` runs: the
    least disturbed by whatever else the machine does."""
    wall = cpu = float("inf")
    for _ in range(runs):
        proj.reset()
        done = run_timed(argv, proj.path, clean_env())
        expect_passed(done, items, " ".join(argv[3:]))
        wall = min(wall, done.seconds)
        cpu = min(cpu, done.cpu_seconds)
    return wall, cpu


def run(mode: str) -> Result:
    count, worker_counts, runs = MODES[mode]
    result = Result()
    table = Table(
        f"Per-item overhead ({count} zero-duration items)",
        [
            "what",
            "mode",
            f"wall {count} s",
            "wall 1 s",
            "ms/item",
            "marginal ms/item",
            "CPU marginal ms/item",
        ],
    )
    table.notes += [
        "ms/item = wall / N; marginal = (wall N - wall 1) / (N - 1), start-up taken out; "
        "CPU: user + system time of pytest and every process it waited for (workers, agents)",
        f"each wall time is the fastest of {runs} run(s); the roadmap's -n runs do not pace "
        "agent starts (--roadmap-stagger 0, when the plugin has it)",
    ]
    marginal: dict[tuple[str, int | None], float] = {}
    cpu_marginal: dict[tuple[str, int | None], float] = {}
    raw: dict[str, object] = {}
    for kind in KINDS:
        with _projects(kind, count) as (big, one):
            for workers in worker_counts:
                mode_name = "serial" if workers is None else f"-n {workers}"
                log(f"overhead: {kind.name} {mode_name}, {count} items")
                argv = kind.argv(workers)
                wall_n, cpu_n = _seconds(big, argv, count, runs)
                wall_1, cpu_1 = _seconds(one, argv, 1, runs)
                per_item = (wall_n - wall_1) / (count - 1)
                cpu_item = (cpu_n - cpu_1) / (count - 1)
                marginal[(kind.name, workers)] = per_item
                cpu_marginal[(kind.name, workers)] = cpu_item
                raw[f"{kind.name} {mode_name}"] = {
                    "wall_n": wall_n,
                    "wall_1": wall_1,
                    "marginal_s": per_item,
                    "cpu_n": cpu_n,
                    "cpu_1": cpu_1,
                    "cpu_marginal_s": cpu_item,
                }
                table.rows.append(
                    [
                        kind.label,
                        mode_name,
                        fmt(wall_n, 2),
                        fmt(wall_1, 2),
                        fmt(wall_n / count * 1000, 2),
                        fmt(per_item * 1000, 2),
                        fmt(cpu_item * 1000, 2),
                    ]
                )
    ratios = Table(
        "Per-item overhead ratios (marginal cost per item)",
        [
            "mode",
            "roadmap / subprocess tests",
            "roadmap / trivial tests",
            "CPU: roadmap / subprocess tests",
        ],
    )
    for workers in worker_counts:
        mode_name = "serial" if workers is None else f"-n {workers}"
        ours = marginal[("roadmap", workers)]
        vs_sub = ours / _nonzero(marginal[("subprocess", workers)])
        vs_triv = ours / _nonzero(marginal[("trivial", workers)])
        cpu_vs_sub = cpu_marginal[("roadmap", workers)] / _nonzero(
            cpu_marginal[("subprocess", workers)]
        )
        raw[f"ratio {mode_name}"] = {
            "vs_subprocess": vs_sub,
            "vs_trivial": vs_triv,
            "cpu_vs_subprocess": cpu_vs_sub,
        }
        ratios.rows.append([mode_name, fmt(vs_sub, 2), fmt(vs_triv, 2), fmt(cpu_vs_sub, 2)])
        result.targets.append(
            Target(
                "per-item overhead / plain pytest + subprocess",
                vs_sub,
                TARGET_RATIO,
                measured=f"{count} items, {mode_name}",
            )
        )
        if workers is None:
            result.metrics["overhead_vs_pytest"] = vs_sub
    result.tables += [table, ratios]
    result.raw["overhead"] = raw
    return result


def _nonzero(value: float) -> float:
    """A denominator: a tiny positive number stands in for zero (noise in a smoke run)."""
    return value if value != 0 else 1e-9
