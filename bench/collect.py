"""Benchmark 3: parse and collect roadmaps of 100 to 50,000 tasks.

For each size: ``parse_roadmap`` in this process (best of a few), then
``pytest --roadmap ROADMAP.md --collect-only -q`` in a subprocess: wall time and the
subprocess's own peak RSS (``wait4``), cold (no ``.pytest_cache``: the first run of a
roadmap) and warm (the parsed roadmap kept by the run before, as for every later run and
every xdist worker). Growth is linear when the marginal cost per task,
(X(n) - X(smallest)) / (n - smallest), stays flat as n grows.
"""

from __future__ import annotations

import math
import shutil
import time

from common import BenchError
from common import Result
from common import Table
from common import Target
from common import clean_env
from common import fmt
from common import layout_of_size
from common import log
from common import project
from common import pytest_argv
from common import roadmap_text
from common import run_timed
from common import task_count

TARGET_SIZE = 10_000
TARGET_SECONDS = 2.0
LINEAR_EXPONENT = 1.15  # growth exponent that still counts as linear (1: linear, 2: quadratic)

MODES: dict[str, tuple[list[int], int]] = {
    # sizes, runs of each measurement up to 10,000 tasks (the fastest counts; one above)
    "full": ([100, 1_000, 10_000, 50_000], 3),
    "quick": ([100, 1_000, 10_000], 1),
    "smoke": ([100, 10_000], 1),
}


def parse_seconds(text: str, repeats: int) -> float:
    """Best wall time of ``parse_roadmap(text)`` in this process."""
    from pytest_roadmap.model.roadmap import parse_roadmap

    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        parse_roadmap(text)
        best = min(best, time.perf_counter() - start)
    return best


def run(mode: str) -> Result:
    sizes, repeats = MODES[mode]
    result = Result()
    rows: list[dict[str, float]] = []
    for size in sizes:
        layout = layout_of_size(size)
        tasks = task_count(layout)
        text = roadmap_text(layout, mixed=True)
        log(f"collect: {tasks} tasks ({len(text) / 1e6:.1f} MB of Markdown)")
        runs = repeats if tasks <= TARGET_SIZE else 1
        parse_s = parse_seconds(text, runs)
        argv = pytest_argv("--roadmap", "ROADMAP.md", "--collect-only", "-q")
        done, warm = [], []
        with project(f"collect-{tasks}", {"ROADMAP.md": text}) as proj:
            for _ in range(runs):
                shutil.rmtree(proj.path / ".pytest_cache", ignore_errors=True)
                done.append(run_timed(argv, proj.path, clean_env()))
                warm.append(run_timed(argv, proj.path, clean_env()))
        items = _collected(done[0].output)
        if items < tasks:
            raise BenchError(f"collect-only of {tasks} tasks collected {items} items")
        rows.append(
            {
                "tasks": tasks,
                "items": items,
                "parse_s": parse_s,
                "collect_s": min(d.seconds for d in done),
                "collect_cpu_s": min(d.cpu_seconds for d in done),
                "warm_s": min(d.seconds for d in warm),
                "rss_kib": min(d.maxrss_kib for d in done),
            }
        )
    base = rows[0]
    table = Table(
        "Parse and collect",
        [
            "tasks",
            "items",
            "parse s",
            "parse us/task",
            "collect s",
            "CPU s",
            "warm s",
            "collect marginal us/task",
            "peak RSS MiB",
            "RSS marginal KiB/task",
        ],
    )
    table.notes += [
        "parse: `parse_roadmap` in-process; collect: wall time of "
        "`pytest --roadmap ROADMAP.md --collect-only -q`, start-up included, and its CPU "
        "(user + system) time, with no .pytest_cache (the first run of a roadmap); warm: "
        "the same with the parsed roadmap kept by the run before; peak RSS of the cold "
        "run; each the fastest (smallest) of "
        f"{repeats} run(s) up to "
        f"{TARGET_SIZE} tasks, one run above",
        f"marginal = (X(n) - X({int(base['tasks'])})) / (n - {int(base['tasks'])}): flat "
        "when growth is linear; the targets use the growth exponent of X(n) - "
        f"X({int(base['tasks'])}) between the two largest sizes (1 linear, 2 quadratic)",
        "roadmaps: groups of 10 tasks, 10 groups a phase; bullets, tables and #### headings",
    ]
    for row in rows:
        extra = row["tasks"] - base["tasks"]
        collect_m = (row["collect_s"] - base["collect_s"]) / extra * 1e6 if extra else 0.0
        rss_m = (row["rss_kib"] - base["rss_kib"]) / extra if extra else 0.0
        table.rows.append(
            [
                str(int(row["tasks"])),
                str(int(row["items"])),
                fmt(row["parse_s"]),
                fmt(row["parse_s"] / row["tasks"] * 1e6, 1),
                fmt(row["collect_s"]),
                fmt(row["collect_cpu_s"]),
                fmt(row["warm_s"]),
                fmt(collect_m, 1) if extra else "-",
                fmt(row["rss_kib"] / 1024, 1),
                fmt(rss_m, 2) if extra else "-",
            ]
        )
    result.tables.append(table)
    result.raw["collect"] = rows
    at_target = next((r for r in rows if r["tasks"] == TARGET_SIZE), None)
    if at_target is not None:
        total = at_target["collect_s"]
        result.metrics["collect_10k_s"] = total
        result.targets.append(
            Target(
                "10,000 tasks: collect-only wall time, cold (parse included)",
                total,
                TARGET_SECONDS,
                "s",
                measured=f"parse alone {at_target['parse_s']:.2f} s, "
                f"warm {at_target['warm_s']:.2f} s",
            )
        )
    # Linear: growth exponent of (X(n) - X(smallest)) between the two largest sizes:
    # 1 for linear growth, 2 for quadratic.
    if len(rows) >= 3:
        first, second = rows[-2], rows[-1]
        measured = f"{int(first['tasks'])} -> {int(second['tasks'])} tasks"
        for key, what in (("rss_kib", "memory"), ("collect_s", "collect time")):
            value = growth_exponent(base, first, second, key)
            result.metrics[f"{key}_exponent"] = value
            result.targets.append(
                Target(f"{what} linear: growth exponent", value, LINEAR_EXPONENT, "", measured)
            )
    return result


def growth_exponent(
    base: dict[str, float], first: dict[str, float], second: dict[str, float], key: str
) -> float:
    """d log(X(n) - X(base)) / d log(n - base) between two sizes: 1 linear, 2 quadratic."""
    below = first[key] - base[key]
    grew = (second[key] - base[key]) / below if below > 0 else math.nan
    sized = (second["tasks"] - base["tasks"]) / (first["tasks"] - base["tasks"])
    return math.log(grew) / math.log(sized) if grew > 0 else math.nan


def _collected(output: str) -> int:
    """Items pytest reports as collected ('N tests collected' or one line per item)."""
    for line in reversed(output.splitlines()):
        words = line.split()
        if len(words) >= 2 and words[0].isdigit() and words[1] in ("test", "tests"):
            return int(words[0])
    return sum(1 for line in output.splitlines() if "::" in line)
