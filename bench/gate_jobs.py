"""Benchmark: the default npm gate one command after another against side by side.

Runs the gate of ``examples/npm-app`` (``npm run typecheck``, ``npm run lint``,
``npm test``, ``npm run build``) through the plugin's own gate runner
(:func:`pytest_roadmap.agents.gate_jobs.run_gate`) in a temporary copy, alternating:

- ``jobs 1``: one after another, as the default does;
- ``jobs 4``: all four at once;
- ``jobs 4, build after ---``: the checks at once, then the build.

Prints a Markdown table of the median wall time of each (several rounds, alternated so
that a busy machine slows all alike) and, as the last line,
``gate_jobs_ratio=<jobs 4 / jobs 1> gate_barrier_ratio=<barrier / jobs 1>``.
Nothing is asserted. Needs npm and node on PATH.

    .venv/bin/python bench/gate_jobs.py [--rounds N]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pytest_roadmap.agents.gate_jobs import BARRIER  # noqa: E402
from pytest_roadmap.agents.gate_jobs import run_gate  # noqa: E402
from pytest_roadmap.steps.gate import NPM_GATES  # noqa: E402

EXAMPLE = ROOT / "examples" / "npm-app"
CHECKS = [command for name, command in NPM_GATES if name != "build"]
BUILD = [command for name, command in NPM_GATES if name == "build"]
CASES = {
    "jobs 1": ([command for _, command in NPM_GATES], 1),
    "jobs 4": ([command for _, command in NPM_GATES], 4),
    "jobs 4, build after ---": ([*CHECKS, BARRIER, *BUILD], 4),
}


def one_gate(project: Path, commands: list[str], jobs: int, log: Path) -> float:
    started = time.perf_counter()
    results = run_gate(commands, project, log, 600.0, jobs)
    took = time.perf_counter() - started
    failed = [r.command for r in results if not r.ok]
    if failed or len(results) != len(NPM_GATES):
        raise SystemExit(f"the gate failed ({failed}); see {log}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    if shutil.which("npm") is None:
        raise SystemExit("npm not found: the default gate needs it")
    times: dict[str, list[float]] = {name: [] for name in CASES}
    with tempfile.TemporaryDirectory(prefix="bench-gate-") as tmp:
        project = Path(tmp) / "app"
        shutil.copytree(EXAMPLE, project)
        one_gate(project, CASES["jobs 1"][0], 1, Path(tmp) / "warm.log")  # caches warm
        for number in range(args.rounds):
            for name, (commands, jobs) in CASES.items():
                log = Path(tmp) / f"gate-{number}-{jobs}-{len(commands)}.log"
                times[name].append(one_gate(project, commands, jobs, log))
            print(f"round {number + 1}/{args.rounds} done", file=sys.stderr)
    base = statistics.median(times["jobs 1"])
    print("| gate | median s | min s | max s | vs jobs 1 |")
    print("|---|---|---|---|---|")
    for name, values in times.items():
        mid = statistics.median(values)
        print(f"| {name} | {mid:.2f} | {min(values):.2f} | {max(values):.2f} | {mid / base:.2f} |")
    ratio = statistics.median(times["jobs 4"]) / base
    barrier = statistics.median(times["jobs 4, build after ---"]) / base
    print(f"gate_jobs_ratio={ratio:.3f} gate_barrier_ratio={barrier:.3f}")


if __name__ == "__main__":
    main()
