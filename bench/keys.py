"""The keys of the benchmarks' summary line, in order: read by bench/run.py and by the test
of its output (tests/test_bench.py). Nothing is imported here."""

from __future__ import annotations

SUMMARY_KEYS = (
    "makespan_vs_ideal",
    "makespan_vs_xargs",
    "overhead_vs_pytest",
    "collect_10k_s",
    "import_ms",
    "report_rewrite_ms",
    "report_overhead_pct",
    "makespan_vs_bash",
    "bound_vs_bash",
    "order_gain",
    "startup_n4_s",
    "checks_ratio",
    "snapshot_task_ms",
    "snapshot_vs_status",
)
