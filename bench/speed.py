"""Benchmark 5: speed with the defaults a user runs.

- ``makespan_vs_bash``: ``pytest --roadmap ROADMAP.md -n 4`` with the plugin's defaults
  (agent starts paced as shipped, ``--roadmap-order auto``) against the seed's bash loop,
  simulated: per group, launch at most 4 agents, polling for a free slot with ``sleep 1``,
  then wait for the group polling with ``sleep 1`` (the loop that also enforces
  TASK_TIMEOUT). 2 phases x 3 groups x 6 tasks whose fake agents sleep seeded 0.5-2.0 s,
  no gates, no commit; the same agent and durations for both.
- ``bound_vs_bash``: what no dispatcher can beat without knowing the durations: the
  in-order list schedule of the same durations on 4 agents with no overhead at all
  (computed), over the bash loop's wall time. ``makespan_vs_bash`` can only come near it.
- ``order_gain``: the same roadmap written as tables with an Estimate column that follows
  the durations, ``-n 4``: the agents' span with the default order (longest first, from the
  column) over the span with ``--roadmap-order roadmap``. The span (first agent start to
  last agent end, from the fake agents' records) leaves out pytest's start-up, which the
  order cannot change; wall times are in the table too.
- ``startup_n4_s``: the fixed cost of a ``-n 4`` run: a one-task roadmap whose agent is
  ``true``, wall time, the least of several runs; against the same run with four workers
  forced (``--tx popen`` four times, which the plugin does not trim) and a serial run.
"""

from __future__ import annotations

import random
import shlex
from pathlib import Path

from common import FAKE_AGENT
from common import PYTHON
from common import Project
from common import Result
from common import Table
from common import Target
from common import clean_env
from common import expect_passed
from common import fake_agent_command
from common import log
from common import plan_env
from common import project
from common import pytest_argv
from common import run_timed
from makespan import agent_span
from makespan import greedy

MIN_SECONDS = 0.5
MAX_SECONDS = 2.0
BASH_GOAL = 0.75
ORDER_GOAL = 0.96

MODES: dict[str, tuple[tuple[int, int, int], int, int]] = {
    # (phases, groups, tasks), workers, start-up runs
    "full": ((2, 3, 6), 4, 5),
    "quick": ((2, 3, 6), 4, 2),
    "smoke": ((1, 1, 3), 2, 1),
}


def layout(phases: int, groups: int, tasks: int, seed: int = 1) -> list[list[dict[str, float]]]:
    """Phases of groups of ``{task id: seconds}``, seeded uniform 0.5-2.0 s."""
    rng = random.Random(seed)
    out: list[list[dict[str, float]]] = []
    letter = 0
    for _ in range(phases):
        phase = []
        for _ in range(groups):
            name = chr(ord("A") + letter)
            letter += 1
            phase.append(
                {
                    f"{name}{t}": round(rng.uniform(MIN_SECONDS, MAX_SECONDS), 2)
                    for t in range(1, tasks + 1)
                }
            )
        out.append(phase)
    return out


def roadmap(phases: list[list[dict[str, float]]], *, estimates: bool) -> str:
    """Markdown tables; with ``estimates`` an Estimate column that follows the durations."""
    lines = ["# Speed roadmap", ""]
    for p, phase in enumerate(phases, 1):
        lines += [f"## Phase {p}: Phase {p}", ""]
        for group in phase:
            name = next(iter(group)).rstrip("0123456789")
            lines += [f"### Group {name}: Group {name} (Parallel)", ""]
            if estimates:
                lines += ["| Task | Description | Estimate |", "|---|---|---|"]
                lines += [f"| **{t}: Task {t}** | do {t} | {d:g}h |" for t, d in group.items()]
            else:
                lines += ["| Task | Description |", "|---|---|"]
                lines += [f"| **{t}: Task {t}** | do {t} |" for t in group]
            lines.append("")
    return "\n".join(lines)


def loop_model(group: list[float], workers: int) -> float:
    """The bash loop on one group, modelled: a start goes at once while a slot is free,
    else at the next whole-second poll; the group ends at the first poll after its last
    task."""
    now, ends = 0.0, []
    for seconds in group:
        while sum(end > now for end in ends) >= workers:
            now += 1.0
        ends.append(now + seconds)
    while any(end > now for end in ends):
        now += 1.0
    return now


def bound_draws(shape: tuple[int, int, int], workers: int, draws: int = 30) -> list[float]:
    """``bound_vs_bash`` for ``draws`` seeded roadmaps of ``shape``, the loop modelled."""
    ratios = []
    for seed in range(1, draws + 1):
        groups = [list(group.values()) for phase in layout(*shape, seed=seed) for group in phase]
        loop = sum(loop_model(group, workers) for group in groups)
        ratios.append(greedy(groups, workers) / loop)
    return ratios


def bash_loop(phases: list[list[dict[str, float]]], workers: int) -> str:
    """The seed's loop: launch <= workers, poll for a slot with sleep 1, wait per group."""
    agent = shlex.join([PYTHON, str(FAKE_AGENT)])
    lines = ["set -e", f"MAX_PARALLEL_AGENTS={workers}"]
    for phase in phases:
        for group in phase:
            for task, seconds in group.items():
                lines += [
                    'while [ "$(jobs -rp | wc -l)" -ge "$MAX_PARALLEL_AGENTS" ]; do sleep 1; done',
                    f"ROADMAP_TASK_ID={task} {agent} --sleep {seconds:g} >>bash.log 2>&1 &",
                ]
            lines += ['while [ "$(jobs -rp | wc -l)" -gt 0 ]; do sleep 1; done', "wait"]
    return "\n".join(lines) + "\n"


def _record(proj: Project) -> Path:
    path = proj.path / ".git" / "agent-record.jsonl"
    path.unlink(missing_ok=True)
    return path


def ours(proj: Project, plan: dict[str, list[str]], tasks: int, *args: str) -> tuple[float, float]:
    """Wall time and agents' span of ``pytest --roadmap -n ...`` with the plugin's defaults
    (no gates, no commit)."""
    proj.reset()
    record = _record(proj)
    argv = pytest_argv(
        "--roadmap",
        "ROADMAP.md",
        "--roadmap-agent-command",
        fake_agent_command(),
        "--roadmap-no-gates",
        "--roadmap-no-commit",
        "-q",
        *args,
    )
    env = plan_env(plan)
    env["FAKE_AGENT_RECORD"] = str(record)
    done = run_timed(argv, proj.path, env)
    expect_passed(done, tasks, "pytest --roadmap")
    return done.seconds, agent_span(record, tasks)


def bash(proj: Project, phases: list[list[dict[str, float]]], workers: int) -> tuple[float, float]:
    proj.reset()
    record = _record(proj)
    script = proj.path / "bash-loop.sh"
    script.write_text(bash_loop(phases, workers), encoding="utf-8")
    env = clean_env({"FAKE_AGENT_RECORD": str(record)})
    done = run_timed(["bash", str(script)], proj.path, env)
    tasks = sum(len(group) for phase in phases for group in phase)
    return done.seconds, agent_span(record, tasks)


def startup(runs: int) -> dict[str, float]:
    """Least wall time of a one-task roadmap with agent ``true``: -n 4, four forced workers,
    serial."""
    text = "# One\n\n## Phase 1: One\n\n### Group A\n- **A1: One** - nothing\n"
    base = ["--roadmap", "ROADMAP.md", "--roadmap-agent-command", "true"]
    base += ["--roadmap-no-gates", "--roadmap-no-commit", "--roadmap-redo", "-q"]
    variants = {
        "-n 4": ["-n", "4"],
        "4 forced workers": ["--tx", "popen", "--tx", "popen", "--tx", "popen", "--tx", "popen"],
        "serial": [],
    }
    best = {name: float("inf") for name in variants}
    with project("speed-startup", {"ROADMAP.md": text}) as proj:
        for _ in range(max(1, runs)):
            for name, extra in variants.items():
                proj.reset()
                done = run_timed(pytest_argv(*base, *extra), proj.path, clean_env())
                expect_passed(done, 1, f"start-up {name}")
                best[name] = min(best[name], done.seconds)
    return best


def run(mode: str) -> Result:
    shape, workers, startup_runs = MODES[mode]
    phases = layout(*shape)
    tasks = sum(len(group) for phase in phases for group in phase)
    plan = {t: ["--sleep", str(d)] for phase in phases for group in phase for t, d in group.items()}
    result = Result()
    n = ("-n", str(workers))
    name = "x".join(map(str, shape))
    with project("speed-bash", {"ROADMAP.md": roadmap(phases, estimates=False)}) as proj:
        log(f"speed: {name} -n {workers}, defaults against the bash loop")
        mine, mine_span = ours(proj, plan, tasks, *n)
        loop, loop_span = bash(proj, phases, workers)
    groups = [list(group.values()) for phase in phases for group in phase]
    inorder_bound = greedy(groups, workers)
    longest_bound = greedy([sorted(group, reverse=True) for group in groups], workers)
    modelled = sum(loop_model(group, workers) for group in groups)
    draws = bound_draws(shape, workers)
    with project("speed-order", {"ROADMAP.md": roadmap(phases, estimates=True)}) as proj:
        log(f"speed: {name} -n {workers}, longest first against roadmap order")
        first, first_span = ours(proj, plan, tasks, *n)
        inorder, inorder_span = ours(proj, plan, tasks, *n, "--roadmap-order", "roadmap")
    log(f"speed: start-up of a one-task roadmap, {startup_runs} runs each")
    fixed = startup(startup_runs)

    table = Table("Speed with the defaults", ["measure", "wall s", "agents' span s", "ratio"])
    table.rows += [
        ["the seed's bash loop", f"{loop:.2f}", f"{loop_span:.2f}", ""],
        ["pytest-roadmap, defaults", f"{mine:.2f}", f"{mine_span:.2f}", f"{mine / loop:.3f}"],
        [
            "no overhead, roadmap order (computed)",
            f"{inorder_bound:.2f}",
            "",
            f"{inorder_bound / loop:.3f}",
        ],
        [
            "no overhead, longest first (computed)",
            f"{longest_bound:.2f}",
            "",
            f"{longest_bound / loop:.3f}",
        ],
        ["Estimate column, --roadmap-order roadmap", f"{inorder:.2f}", f"{inorder_span:.2f}", ""],
        [
            "Estimate column, defaults (longest first)",
            f"{first:.2f}",
            f"{first_span:.2f}",
            f"{first_span / inorder_span:.3f} (wall {first / inorder:.3f})",
        ],
        ["one task, -n 4 (workers trimmed to 1)", f"{fixed['-n 4']:.2f}", "", ""],
        [
            "one task, 4 workers forced (--tx popen x4)",
            f"{fixed['4 forced workers']:.2f}",
            "",
            f"{fixed['-n 4'] / fixed['4 forced workers']:.3f}",
        ],
        ["one task, serial", f"{fixed['serial']:.2f}", "", ""],
    ]
    table.notes += [
        f"bound_vs_bash over {len(draws)} seeded draws of the same shape, the loop modelled "
        "(a start at once while a slot is free, else at the next whole-second poll): "
        f"{min(draws):.3f}-{max(draws):.3f}, mean {sum(draws) / len(draws):.3f}; the model "
        f"gives {modelled:.2f} s for the loop measured above",
        f"{name} (phases x groups x tasks), fake agents sleeping seeded "
        f"{MIN_SECONDS}-{MAX_SECONDS} s, -n {workers}, no gates, no commit, everything else "
        "as shipped",
        "bash loop: per group, launch at most MAX_PARALLEL_AGENTS agents in the background, "
        "polling `jobs -r` with `sleep 1` for a free slot, then poll with `sleep 1` until the "
        "group is done",
        "no overhead: list scheduling of the same durations on "
        f"{workers} agents, each task started the instant an agent is free, nothing else "
        "costing any time; ratio: / bash loop wall (roadmap order: bound_vs_bash)",
        "ratio of the defaults: wall / bash loop wall (makespan_vs_bash); longest first: "
        "agents' span / the span in roadmap order (order_gain), wall ratio in brackets",
        "start-up: a one-task roadmap with agent `true`, the least wall time of "
        f"{startup_runs} run(s) each, round-robin",
    ]
    result.tables.append(table)
    result.metrics["makespan_vs_bash"] = mine / loop
    result.metrics["bound_vs_bash"] = inorder_bound / loop
    result.metrics["order_gain"] = first_span / inorder_span
    result.metrics["startup_n4_s"] = fixed["-n 4"]
    result.targets += [
        Target(
            "defaults / bash loop, wall", mine / loop, BASH_GOAL, measured=f"{name} -n {workers}"
        ),
        Target(
            "longest first / roadmap order, agents' span",
            first_span / inorder_span,
            ORDER_GOAL,
            measured=f"{name} -n {workers}, Estimate column",
        ),
    ]
    result.raw["speed"] = {
        "bash_s": loop,
        "no_overhead_roadmap_order_s": inorder_bound,
        "no_overhead_longest_first_s": longest_bound,
        "ours_s": mine,
        "longest_first_s": first,
        "roadmap_order_s": inorder,
        "longest_first_span_s": first_span,
        "roadmap_order_span_s": inorder_span,
        "startup_s": fixed,
    }
    return result
