"""Benchmark: what a task's checks cost, per task, beside the same run without them.

One group of N tasks whose agent is ``true``, each task with one trivial check
(``Verify: `true```), runs serially twice: with its checks (each check runs before the
agent and after it) and with ``--roadmap-no-checks``. Both are also run with a single task,
so that start-up is taken out: marginal cost per task = (T(N) - T(1)) / (N - 1).
"""

from __future__ import annotations

from common import Result
from common import Table
from common import Target
from common import clean_env
from common import expect_passed
from common import fmt
from common import layout_of
from common import log
from common import project
from common import roadmap_argv
from common import roadmap_text
from common import run_timed

MODES: dict[str, tuple[int, int]] = {"full": (100, 3), "quick": (40, 1), "smoke": (5, 1)}
#: a trivial check runs twice per task (before and after the agent): two shell starts
TARGET_RATIO = 3.0


def _roadmap(count: int) -> str:
    text = roadmap_text(layout_of(1, 1, count))
    lines = []
    for line in text.splitlines():
        lines.append(line)
        if line.startswith("- **"):
            lines.append("  Verify: `true`")
    return "\n".join(lines) + "\n"


def _wall(count: int, extra: tuple[str, ...], runs: int) -> float:
    """The fastest of ``runs`` runs of a roadmap of ``count`` tasks, in seconds."""
    best = float("inf")
    with project(f"checks-{count}", {"ROADMAP.md": _roadmap(count)}) as proj:
        argv = roadmap_argv("true", *extra)
        for _ in range(runs):
            proj.reset()
            done = run_timed(argv, proj.path, clean_env())
            expect_passed(done, count, " ".join(argv[3:]))
            best = min(best, done.seconds)
    return best


def run(mode: str) -> Result:
    count, runs = MODES[mode]
    result = Result()
    table = Table(
        f"Task checks ({count} tasks, agent `true`, one trivial check each, serial)",
        ["what", f"wall {count} s", "wall 1 s", "marginal ms/task"],
        notes=[
            f"the fastest of {runs} run(s) each; marginal = (wall N - wall 1) / (N - 1)",
            "with checks each task runs its check twice: before its agent and after it",
        ],
    )
    marginal = {}
    for name, extra in (("with checks", ()), ("without checks", ("--roadmap-no-checks",))):
        log(f"checks: {name}, {count} tasks")
        wall_n = _wall(count, extra, runs)
        wall_1 = _wall(1, extra, runs)
        marginal[name] = (wall_n - wall_1) / (count - 1)
        table.rows.append([name, fmt(wall_n, 2), fmt(wall_1, 2), fmt(marginal[name] * 1000, 1)])
    ratio = marginal["with checks"] / max(marginal["without checks"], 1e-9)
    added_ms = (marginal["with checks"] - marginal["without checks"]) * 1000
    table.rows.append(["ratio with / without", fmt(ratio, 2), "", fmt(added_ms, 1) + " added"])
    result.tables.append(table)
    result.targets.append(
        Target("per-task time with checks / without", ratio, TARGET_RATIO, measured=f"{count}")
    )
    result.metrics["checks_ratio"] = ratio
    result.raw["checks"] = {"marginal_s": marginal, "ratio": ratio, "added_ms": added_ms}
    return result
