"""Benchmark 1: makespan of synthetic roadmaps against the ideal schedule and an xargs pipeline.

Every task's fake agent sleeps a known, seeded duration (0.1-1.0 s). For ``-n N``:

- ideal = sum over groups of max(longest task, total / N): no schedule of the group's tasks
  on N agents can finish sooner (gates are off, so they add nothing);
- greedy = sum over groups of the makespan of handing the tasks out in roadmap order to the
  first free agent with no overhead at all: what any in-order dispatcher, xargs included,
  can hope for;
- ours = wall time of ``pytest --roadmap ROADMAP.md -n N`` (pytest start-up included);
- ours(0 s) = the same run with 0-second agents: pytest start-up, xdist workers, dispatch and
  the agents' own process start-up; ``ours - ours(0 s)`` is the start-up-corrected makespan;
- span = the agents' own records: first agent start to last agent end, i.e. the run without
  pytest's start-up and teardown (per-task dispatch and agent process start-up stay in);
- xargs = a shell script that runs, group by group, ``xargs -P N -n 1 <fake agent> --sleep``
  over the group's durations and waits for it; xargs(0 s) the same with 0-second agents.
  ``-P`` beyond the largest group changes nothing, so each distinct ``min(N, largest
  group)`` runs once.

The grid runs with ``--roadmap-stagger 0`` (when the plugin has that option): the plugin's
default pacing of agent starts is measured on its own, on the first scenario.
"""

from __future__ import annotations

import heapq
import json
import math
import random
import shlex
from dataclasses import dataclass
from pathlib import Path

from common import FAKE_AGENT
from common import PYTHON
from common import BenchError
from common import Layout
from common import Project
from common import Result
from common import Table
from common import Target
from common import clean_env
from common import expect_passed
from common import fake_agent_command
from common import fmt
from common import groups_of
from common import layout_of
from common import log
from common import plan_env
from common import project
from common import roadmap_argv
from common import roadmap_options
from common import roadmap_text
from common import run_timed

MIN_SECONDS = 0.1
MAX_SECONDS = 1.0
TARGET_RATIO = 1.05
HEADLINE = ("4x4x8", 4)  # the scenario and -n of the makespan target


@dataclass(frozen=True)
class Scenario:
    name: str
    phases: int
    groups: int
    tasks: int

    @property
    def layout(self) -> Layout:
        return layout_of(self.phases, self.groups, self.tasks)

    @property
    def describe(self) -> str:
        return f"{self.phases} phase(s) x {self.groups} group(s) x {self.tasks} task(s)"


#: scenarios, worker counts, and whether to measure the plugin's default pacing as well
MODES: dict[str, tuple[list[Scenario], list[int], bool]] = {
    "full": (
        [Scenario("4x4x8", 4, 4, 8), Scenario("1x64", 1, 1, 64), Scenario("200x1", 1, 200, 1)],
        [1, 2, 4, 8],
        True,
    ),
    "quick": ([Scenario("2x2x8", 2, 2, 8)], [4], False),
    "smoke": ([Scenario("1x2x3", 1, 2, 3)], [2], False),
}


def durations_for(layout: Layout, seed: int) -> dict[str, float]:
    """Seeded durations in [0.1, 1.0] s, to the hundredth, one per task id."""
    rng = random.Random(seed)
    return {
        task: round(rng.uniform(MIN_SECONDS, MAX_SECONDS), 2)
        for group in groups_of(layout)
        for task in group
    }


def ideal(groups: list[list[float]], workers: int) -> float:
    """Sum over groups of the lower bound max(longest, total / workers)."""
    return sum(max(*group, sum(group) / workers) for group in groups)


def greedy(groups: list[list[float]], workers: int) -> float:
    """Sum over groups of in-order list scheduling on ``workers`` agents, zero overhead."""
    total = 0.0
    for group in groups:
        free = [0.0] * min(workers, len(group))
        for duration in group:
            heapq.heappush(free, heapq.heappop(free) + duration)
        total += max(free)
    return total


@dataclass(frozen=True)
class Timing:
    """Wall time of a whole run, and the agents' span: first agent start to last agent end
    (from the fake agents' own records), which leaves out start-up and teardown."""

    wall: float
    span: float


def _record(proj: Project) -> Path:
    """Where the fake agents record their start and end (inside .git: never cleaned)."""
    path = proj.path / ".git" / "agent-record.jsonl"
    path.unlink(missing_ok=True)
    return path


def agent_span(record: Path, tasks: int) -> float:
    """Last agent end minus first agent start; every task must have ended once."""
    ends = [json.loads(line) for line in record.read_text(encoding="utf-8").splitlines()]
    ends = [row for row in ends if row.get("event") == "end"]
    if len(ends) != tasks:
        raise BenchError(f"{len(ends)} agents finished, expected {tasks}")
    return float(max(row["end"] for row in ends) - min(row["start"] for row in ends))


OPTIMAL_MAX_TASKS = 12  # exact search above this group size takes too long


def optimal(groups: list[list[float]], workers: int) -> float:
    """Sum over groups of the best possible makespan, knowing every duration (exact
    branch and bound); NaN when a group has more than OPTIMAL_MAX_TASKS tasks."""
    total = 0.0
    for group in groups:
        if len(group) > OPTIMAL_MAX_TASKS:
            return math.nan
        total += _optimal_group(sorted(group, reverse=True), min(workers, len(group)))
    return total


def _optimal_group(tasks: list[float], workers: int) -> float:
    best = greedy([tasks], workers)  # longest first: a good first bound
    loads = [0.0] * workers

    def place(index: int, current: float) -> None:
        nonlocal best
        if current >= best:
            return
        if index == len(tasks):
            best = current
            return
        tried: set[float] = set()
        for slot in range(workers):
            if loads[slot] in tried:
                continue  # agents with equal loads are interchangeable
            tried.add(loads[slot])
            loads[slot] += tasks[index]
            place(index + 1, max(current, loads[slot]))
            loads[slot] -= tasks[index]

    place(0, 0.0)
    return best


def ours(
    proj: Project, workers: int, plan: dict[str, list[str]], tasks: int, *, defaults: bool = False
) -> Timing:
    """One ``pytest --roadmap -n workers`` run with the fake agent."""
    proj.reset()
    record = _record(proj)
    argv = roadmap_argv(fake_agent_command(), workers=workers, defaults=defaults)
    env = plan_env(plan)
    env["FAKE_AGENT_RECORD"] = str(record)
    done = run_timed(argv, proj.path, env)
    expect_passed(done, tasks, f"pytest --roadmap -n {workers}")
    return Timing(done.seconds, agent_span(record, tasks))


def xargs_script(groups: list[list[float]], parallel: int) -> str:
    """A POSIX shell script: per group, ``xargs -P parallel -n 1 <fake agent> --sleep``."""
    agent = shlex.join([PYTHON, str(FAKE_AGENT), "--sleep"])
    lines = ["set -e"]
    for group in groups:
        values = " ".join(f"{d:g}" for d in group)
        lines.append(f"printf '%s\\n' {values} | xargs -P {parallel} -n 1 {agent} >>xargs.log 2>&1")
    return "\n".join(lines) + "\n"


def xargs(proj: Project, groups: list[list[float]], parallel: int) -> Timing:
    """The xargs pipeline over ``groups``."""
    proj.reset()
    record = _record(proj)
    script = proj.path / "xargs-driver.sh"
    script.write_text(xargs_script(groups, parallel), encoding="utf-8")
    done = run_timed(["sh", str(script)], proj.path, clean_env({"FAKE_AGENT_RECORD": str(record)}))
    return Timing(done.seconds, agent_span(record, sum(len(group) for group in groups)))


COLUMNS = [
    "roadmap",
    "-n",
    "agent starts",
    "ideal s",
    "opt/ideal",
    "greedy/ideal",
    "ours s",
    "ours 0s s",
    "raw/ideal",
    "corr/ideal",
    "span/ideal",
    "span/opt",
    "span/greedy",
    "xargs s",
    "xargs 0s s",
    "raw/xargs",
    "corr/xargs",
    "span/xargs",
]
NOTES = [
    "ideal: sum over groups of max(longest task, group total / N), a lower bound; opt: the "
    "best schedule knowing every duration (exact search; groups of up to "
    f"{OPTIMAL_MAX_TASKS} tasks); greedy: in-order dispatch to the first free agent with "
    "zero overhead (the best xargs, or any dispatcher that does not know the durations, "
    "can do)",
    "ours: wall time of `pytest --roadmap -n N` (start-up included); ours 0s: the same "
    "roadmap with 0-second agents (start-up, dispatch, agent process start-up)",
    "raw/ideal = ours / ideal; corr/ideal = (ours - ours 0s) / ideal; span/ideal = the "
    "agents' span (first agent start to last agent end, from the fake agents' records: "
    "pytest start-up and teardown left out, per-task dispatch and agent start-up kept) / "
    "ideal",
    "span/opt, span/greedy: the agents' span against the best possible schedule and against "
    "the best in-order dispatch",
    "raw/xargs = ours / xargs; corr/xargs = (ours - ours 0s) / (xargs - xargs 0s); "
    "span/xargs = our agents' span / xargs' agents' span",
    "agent starts: `unpaced` runs with --roadmap-stagger 0; `defaults` keeps the plugin's "
    "pacing of agent starts (the start-up correction means nothing there, so none is made)",
    f"durations: seeded uniform {MIN_SECONDS}-{MAX_SECONDS} s per task; gates off "
    "(--roadmap-no-gates), no commit",
]


@dataclass
class _Case:
    """One roadmap in its temporary project, with what every run of it needs."""

    scenario: Scenario
    proj: Project
    durations: dict[str, float]
    xargs_cache: dict[int, tuple[Timing, Timing]]

    @property
    def tasks(self) -> int:
        return len(self.durations)

    @property
    def groups(self) -> list[list[float]]:
        return [[self.durations[t] for t in group] for group in groups_of(self.scenario.layout)]

    def xargs(self, workers: int) -> tuple[Timing, Timing]:
        """xargs and xargs(0 s) wall times at ``-P min(workers, largest group)``."""
        groups = self.groups
        parallel = min(workers, max(len(group) for group in groups))
        if parallel not in self.xargs_cache:
            zero = [[0.0 for _ in group] for group in groups]
            self.xargs_cache[parallel] = (
                xargs(self.proj, groups, parallel),
                xargs(self.proj, zero, parallel),
            )
        return self.xargs_cache[parallel]

    def measure(self, workers: int, *, defaults: bool) -> dict[str, float]:
        groups = self.groups
        plan = {task: ["--sleep", str(d)] for task, d in self.durations.items()}
        best = ideal(groups, workers)
        run = ours(self.proj, workers, plan, self.tasks, defaults=defaults)
        zero = math.nan if defaults else ours(self.proj, workers, {}, self.tasks).wall
        base, base0 = self.xargs(workers)
        corrected = run.wall - zero
        return {
            "ideal": best,
            "greedy": greedy(groups, workers),
            "opt_vs_ideal": (opt := optimal(groups, workers)) / best,
            "span_vs_opt": run.span / opt,
            "ours": run.wall,
            "ours0": zero,
            "ours_span": run.span,
            "xargs": base.wall,
            "xargs0": base0.wall,
            "xargs_span": base.span,
            "ours_vs_ideal": run.wall / best,
            "corrected_vs_ideal": corrected / best,
            "span_vs_ideal": run.span / best,
            "ours_vs_xargs": run.wall / base.wall,
            "corrected_vs_xargs": corrected / max(base.wall - base0.wall, 1e-9),
            "span_vs_xargs": run.span / base.span,
        }


def _cells(name: str, workers: int, starts: str, row: dict[str, float]) -> list[str]:
    def num(key: str, digits: int = 3) -> str:
        return "-" if math.isnan(row[key]) else fmt(row[key], digits)

    return [
        name,
        str(workers),
        starts,
        num("ideal", 2),
        num("opt_vs_ideal"),
        fmt(row["greedy"] / row["ideal"]),
        num("ours", 2),
        num("ours0", 2),
        num("ours_vs_ideal"),
        num("corrected_vs_ideal"),
        num("span_vs_ideal"),
        num("span_vs_opt"),
        fmt(row["ours_span"] / row["greedy"]),
        num("xargs", 2),
        num("xargs0", 2),
        num("ours_vs_xargs"),
        num("corrected_vs_xargs"),
        num("span_vs_xargs"),
    ]


def run(mode: str, seed: int = 1) -> Result:
    scenarios, worker_counts, with_defaults = MODES[mode]
    paced = with_defaults and "--roadmap-stagger" in roadmap_options()
    result = Result()
    table = Table("Makespan vs ideal and vs xargs", COLUMNS, notes=list(NOTES))
    raw: dict[str, dict[str, float]] = {}
    for index, scenario in enumerate(scenarios):
        layout = scenario.layout
        durations = durations_for(layout, seed)
        files = {"ROADMAP.md": roadmap_text(layout)}
        with project(f"makespan-{scenario.name}", files) as proj:
            case = _Case(scenario, proj, durations, {})
            for workers in worker_counts:
                log(
                    f"makespan {scenario.name} ({case.tasks} tasks, "
                    f"{sum(durations.values()):.1f} s of agent time) -n {workers}"
                )
                row = case.measure(workers, defaults=False)
                raw[f"{scenario.name} -n {workers}"] = row
                table.rows.append(_cells(scenario.name, workers, "unpaced", row))
            if paced and index == 0:
                workers = _headline_workers(scenario, worker_counts)
                log(f"makespan {scenario.name} -n {workers} with the plugin's default pacing")
                row = case.measure(workers, defaults=True)
                raw[f"{scenario.name} -n {workers} defaults"] = row
                table.rows.append(_cells(scenario.name, workers, "defaults", row))
    result.tables.append(table)
    result.raw["makespan"] = raw
    headline = _headline(raw)
    main = raw[headline]
    # The agents' span: the start-up correction by a 0-second run is too noisy on a busy
    # machine (it can even come out below 1, which no real schedule can).
    result.metrics["makespan_vs_ideal"] = main["span_vs_ideal"]
    result.metrics["makespan_vs_xargs"] = main["ours_vs_xargs"]
    result.targets.append(
        Target(
            "makespan/ideal, agents' span",
            main["span_vs_ideal"],
            TARGET_RATIO,
            measured=f"{headline}, unpaced",
        )
    )
    result.targets.append(
        Target(
            "makespan/ideal, start-up corrected",
            main["corrected_vs_ideal"],
            TARGET_RATIO,
            measured=f"{headline}, unpaced",
        )
    )
    result.targets.append(
        Target(
            "makespan/ideal, raw wall time",
            main["ours_vs_ideal"],
            TARGET_RATIO,
            measured=f"{headline}, unpaced",
        )
    )
    if not math.isnan(main["opt_vs_ideal"]):
        result.targets.append(
            Target(
                "best possible schedule/ideal (can the target be met at all?)",
                main["opt_vs_ideal"],
                TARGET_RATIO,
                measured=f"{headline}, exact, zero overhead",
            )
        )
        result.targets.append(
            Target(
                "makespan/best possible schedule, agents' span",
                main["span_vs_opt"],
                TARGET_RATIO,
                measured=f"{headline}, unpaced",
            )
        )
    defaults = raw.get(f"{headline} defaults")
    if defaults is not None:
        result.targets.append(
            Target(
                "makespan/ideal, agents' span",
                defaults["span_vs_ideal"],
                TARGET_RATIO,
                measured=f"{headline}, plugin defaults",
            )
        )
    return result


def _headline_workers(scenario: Scenario, worker_counts: list[int]) -> int:
    if scenario.name == HEADLINE[0] and HEADLINE[1] in worker_counts:
        return HEADLINE[1]
    return worker_counts[0]


def _headline(raw: dict[str, dict[str, float]]) -> str:
    """The 4x4x8 -n 4 row when it ran, else the first row (quick and smoke sets)."""
    wanted = f"{HEADLINE[0]} -n {HEADLINE[1]}"
    return wanted if wanted in raw else next(iter(raw))
