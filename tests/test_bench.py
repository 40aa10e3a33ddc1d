"""``bench/run.py --smoke`` runs every benchmark end to end and ends with its summary line.

Only the shape of the output is checked: timings depend on the machine and its load.
"""

from __future__ import annotations

import math
import re
import runpy
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / "bench" / "run.py"
KEYS = runpy.run_path(str(ROOT / "bench" / "keys.py"))["SUMMARY_KEYS"]
SMOKE_TIMEOUT = 240  # below the suite's 300 s pytest-timeout
PAIR = re.compile(r"([a-z0-9_]+)=(\S+)")


def test_smoke_run_ends_with_the_summary_line() -> None:
    done = subprocess.run(
        [sys.executable, str(RUN), "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=SMOKE_TIMEOUT,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.rstrip("\n").splitlines()
    assert lines, done.stderr[-3000:]
    last = lines[-1]
    pairs = PAIR.findall(last)
    assert [key for key, _ in pairs] == list(KEYS), last
    assert " ".join(f"{key}={value}" for key, value in pairs) == last
    for key, value in pairs:
        number = float(value)
        assert math.isfinite(number), f"{key}={value}"
    # the tables come before it, in Markdown
    assert any(line.startswith("### Targets") for line in lines), done.stdout[-3000:]
