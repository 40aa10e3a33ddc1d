"""Makespan of a synthetic roadmap against the ideal schedule, and per-item overhead.

    python bench/makespan.py [--phases 4 --groups 4 --tasks 8 --workers 4 --seed 1]

Builds a roadmap in a temporary git repository whose fake agents sleep known,
seeded durations (0.2-1.0 s), runs ``pytest --roadmap`` on it with ``-n N`` and
prints makespan / ideal, where ideal is the sum over groups of the lower bound
max(longest task, total / N) (gates are empty here). Then runs zero-duration
tasks serially and with -n N and prints the wall time per item.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FAKE_AGENT = ROOT / "tests" / "fake_agent.py"


def build(folder: Path, phases: int, groups: int, tasks: int) -> list[list[str]]:
    """Write ROADMAP.md and make ``folder`` a git repository; return task ids per group."""
    lines, layout = [], []
    letters = iter("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    for p in range(1, phases + 1):
        lines += [f"## Phase {p}: Phase {p}", ""]
        for _ in range(groups):
            letter = next(letters, None) or f"G{len(layout)}"
            lines += [f"### Group {letter}: Group {letter}"]
            ids = [f"{letter}{t}" for t in range(1, tasks + 1)]
            lines += [f"- **{i}: Task {i}** - sleep" for i in ids] + [""]
            layout.append(ids)
    (folder / "ROADMAP.md").write_text("\n".join(lines))
    for args in (
        ["init", "-q"],
        ["add", "-A"],
        ["-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "bench"],
    ):
        subprocess.run(["git", *args], cwd=folder, check=True)
    return layout


def lower_bound(durations: list[float], workers: int) -> float:
    """No schedule of these tasks on ``workers`` can finish sooner."""
    return max(*durations, sum(durations) / workers)


def run(folder: Path, workers: int, plan: dict[str, list[str]]) -> float:
    """Wall time of one roadmap run (pytest start-up excluded as far as possible)."""
    agent = f"{sys.executable} {FAKE_AGENT}"
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "--roadmap",
        "ROADMAP.md",
        "--roadmap-agent-command",
        agent,
        "--roadmap-no-gates",
        "--roadmap-no-commit",
        "--roadmap-redo",
        "-q",
        "-p",
        "no:cacheprovider",
        "-n",
        str(workers),
    ]
    env = {"FAKE_AGENT_PLAN": json.dumps(plan), "PATH": "/usr/bin:/bin"}
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True, timeout=3600)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(done.stdout[-3000:] + done.stderr[-3000:])
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--phases", type=int, default=4)
    parser.add_argument("--groups", type=int, default=4)
    parser.add_argument("--tasks", type=int, default=8)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--zero-tasks", type=int, default=200)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        layout = build(folder, args.phases, args.groups, args.tasks)
        durations = {t: round(rng.uniform(0.2, 1.0), 2) for ids in layout for t in ids}
        plan = {t: ["--sleep", str(d)] for t, d in durations.items()}
        ideal = sum(lower_bound([durations[t] for t in ids], args.workers) for ids in layout)
        empty = run(folder, args.workers, {t: [] for t in durations})  # start-up + dispatch
        makespan = run(folder, args.workers, plan)
    agent_time = makespan - empty
    print(f"roadmap: {args.phases}x{args.groups}x{args.tasks} tasks, -n {args.workers}")
    print(f"ideal (lower bound)      {ideal:8.2f} s")
    print(f"makespan (wall)          {makespan:8.2f} s   ratio {makespan / ideal:.3f}")
    print(f"same roadmap, 0 s agents {empty:8.2f} s")
    print(f"makespan - 0 s run       {agent_time:8.2f} s   ratio {agent_time / ideal:.3f}")

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        layout = build(folder, 1, 1, args.zero_tasks)
        plan = {t: [] for t in layout[0]}
        serial = run(folder, 0, plan)
        parallel = run(folder, args.workers, plan)
    n = args.zero_tasks
    print(
        f"{n} zero-duration tasks: serial {serial / n * 1000:.1f} ms/item, "
        f"-n {args.workers} {parallel / n * 1000:.1f} ms/item (wall, incl. agent start)"
    )


if __name__ == "__main__":
    main()
