"""Run pytest-roadmap's benchmarks and print a results table.

    .venv/bin/python bench/run.py            # everything (about 20 minutes on 2 cores)
    .venv/bin/python bench/run.py --quick    # a reduced set, under a minute
    .venv/bin/python bench/run.py --smoke    # a tiny run, for the test suite
    .venv/bin/python bench/run.py --only collect --only startup

Progress goes to stderr; stdout gets Markdown tables, the targets, and as its last line
one summary: ``makespan_vs_ideal=<x> makespan_vs_xargs=<x> overhead_vs_pytest=<x>
collect_10k_s=<x> import_ms=<x> report_rewrite_ms=<x> report_overhead_pct=<x>
makespan_vs_bash=<x> order_gain=<x> startup_n4_s=<x> checks_ratio=<x>
snapshot_task_ms=<x> snapshot_vs_status=<x>`` (``nan`` for what was not
measured).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import checks
import collect
import makespan
import overhead
import report
import snapshots
import speed
import startup
from common import BenchError
from common import Result
from common import Table
from common import describe_source
from common import log
from common import temp_dir
from common import use_source
from keys import SUMMARY_KEYS

BENCHMARKS: dict[str, Callable[[str], Result]] = {
    "makespan": makespan.run,
    "overhead": overhead.run,
    "collect": collect.run,
    "startup": startup.run,
    "report": report.run,
    "speed": speed.run,
    "checks": checks.run,
    "snapshots": snapshots.run,
}


def summary_line(metrics: dict[str, float]) -> str:
    """The machine-readable last line: every key, ``nan`` when not measured."""
    return " ".join(f"{key}={metrics.get(key, math.nan):.4g}" for key in SUMMARY_KEYS)


def targets_table(results: list[Result]) -> Table:
    table = Table("Targets", ["target", "measured on", "value", "limit", "met"])
    for result in results:
        for target in result.targets:
            table.rows.append(
                [
                    target.name,
                    target.measured,
                    f"{target.value:.3f}{(' ' + target.unit) if target.unit else ''}",
                    f"<= {target.limit:g}{(' ' + target.unit) if target.unit else ''}",
                    "yes" if target.met else "**no**",
                ]
            )
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="a reduced set, under a minute")
    size.add_argument("--smoke", action="store_true", help="a tiny run for the test suite")
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(BENCHMARKS),
        help="run only this benchmark (repeatable)",
    )
    parser.add_argument("--json", type=Path, help="also write every raw number to this file")
    origin = parser.add_mutually_exclusive_group()
    origin.add_argument(
        "--source",
        type=Path,
        help="benchmark the pytest_roadmap package in this directory (e.g. a patched copy)",
    )
    origin.add_argument(
        "--ref",
        help="benchmark pytest_roadmap as of this git commit or branch (default: a snapshot of "
        "the working tree taken at the start)",
    )
    args = parser.parse_args(argv)
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    chosen = [name for name in BENCHMARKS if not args.only or name in args.only]

    started = time.perf_counter()
    load_before = _load()
    results: list[Result] = []
    conditions = Table(
        "Run conditions",
        ["benchmark", "seconds", "load average before (1, 5, 15 min)", "after"],
        notes=["other processes on the machine slow every wall time; CPU times suffer less"],
    )
    with temp_dir("source") as copy:
        try:
            use_source(copy, args.ref, args.source)
            log(f"mode {mode}: {', '.join(chosen)}; {describe_source()}")
            for name in chosen:
                before, start = _load(), time.perf_counter()
                results.append(BENCHMARKS[name](mode))
                conditions.rows.append(
                    [name, f"{time.perf_counter() - start:.0f}", before, _load()]
                )
        except BenchError as exc:
            print(f"benchmark failed: {exc}", file=sys.stderr)
            return 1
        source_text = describe_source()
    elapsed = time.perf_counter() - started

    metrics: dict[str, float] = {}
    for result in results:
        metrics.update(result.metrics)
    print(
        f"pytest-roadmap benchmarks ({mode}): python {platform.python_version()}, "
        f"{platform.machine()}, {_cpus()} CPUs, load average {load_before} before and "
        f"{_load()} after, {elapsed:.0f} s; {source_text}"
    )
    for result in results:
        for table in result.tables:
            print()
            print(table.render())
    print()
    print(conditions.render())
    print()
    print(targets_table(results).render())
    if args.json is not None:
        raw: dict[str, object] = {"mode": mode, "metrics": metrics}
        for result in results:
            raw.update(result.raw)
        args.json.write_text(json.dumps(raw, indent=2, default=str) + "\n", encoding="utf-8")
    print()
    print(summary_line(metrics))
    return 0


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _load() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "?"


if __name__ == "__main__":
    sys.exit(main())
