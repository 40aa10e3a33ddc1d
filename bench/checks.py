"""Benchmark: what a task's checks cost, per task, beside the same run without them.

One group of N tasks whose agent is ``true``, each task with one trivial check
(``Verify: `true```), runs serially with its checks (each check runs before the agent and
after it) and with ``--roadmap-no-checks``, the two alternating; each figure is the least
of the runs. Per task = time / N; the difference is what the checks add.
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
#: a trivial check runs twice per task (before and after the agent): two more processes
#: per task, beside the agent's one
TARGET_RATIO = 3.0
KINDS = {"with checks": (), "without checks": ("--roadmap-no-checks",)}


def _roadmap(count: int) -> str:
    lines = []
    for line in roadmap_text(layout_of(1, 1, count)).splitlines():
        lines.append(line)
        if line.startswith("- **"):
            lines.append("  Verify: `true`")
    return "\n".join(lines) + "\n"


def run(mode: str) -> Result:
    count, runs = MODES[mode]
    result = Result()
    wall = dict.fromkeys(KINDS, float("inf"))
    cpu = dict.fromkeys(KINDS, float("inf"))
    with project(f"checks-{count}", {"ROADMAP.md": _roadmap(count)}) as proj:
        for number in range(runs):
            for name, extra in KINDS.items():
                log(f"checks: {name}, {count} tasks, run {number + 1} of {runs}")
                argv = roadmap_argv("true", *extra)
                proj.reset()
                done = run_timed(argv, proj.path, clean_env())
                expect_passed(done, count, " ".join(argv[3:]))
                wall[name] = min(wall[name], done.seconds)
                cpu[name] = min(cpu[name], done.cpu_seconds)
    table = Table(
        f"Task checks ({count} tasks, agent `true`, one trivial check each, serial)",
        ["what", f"wall {count} s", "wall ms/task", "CPU ms/task"],
        notes=[
            f"the fastest of {runs} run(s) each, alternating; per task = time / {count}",
            "with checks each task runs its check twice: before its agent and after it; "
            "CPU: user + system time of pytest and every process it waited for",
        ],
    )
    for name in KINDS:
        table.rows.append(
            [
                name,
                fmt(wall[name], 2),
                fmt(wall[name] / count * 1000, 1),
                fmt(cpu[name] / count * 1000, 1),
            ]
        )
    ratio = wall["with checks"] / wall["without checks"]
    cpu_ratio = cpu["with checks"] / cpu["without checks"]
    added = (wall["with checks"] - wall["without checks"]) / count * 1000
    cpu_added = (cpu["with checks"] - cpu["without checks"]) / count * 1000
    table.rows.append(["with / without", fmt(ratio, 2), fmt(added, 1) + " added",
                       fmt(cpu_added, 1) + f" added ({fmt(cpu_ratio, 2)}x)"])  # fmt: skip
    result.tables.append(table)
    result.targets.append(
        Target("run time with checks / without", ratio, TARGET_RATIO, measured=f"{count} tasks")
    )
    result.metrics["checks_ratio"] = ratio
    result.raw["checks"] = {"wall_s": wall, "cpu_s": cpu, "ratio": ratio, "added_ms": added}
    return result
