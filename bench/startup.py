"""Benchmark 4: start-up, with and without ``--roadmap``, and the plugin's import cost.

- ``pytest --roadmap ROADMAP.md --collect-only -q`` on a small roadmap against
  ``pytest --collect-only -q`` in an empty directory (and with ``-p no:roadmap``, the
  plugin not loaded at all), several runs each;
- ``python -X importtime -c "import pytest_roadmap.plugin"`` against
  ``-c "import pytest"``: the summed self time of every module the first imports and the
  second does not (the plugin's own modules and whatever they pull in), the least of
  several runs; and the same difference inside a real session (``pytest --collect-only`` with and
  without ``-p no:roadmap``), where pytest's own plugins have imported more already.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from common import PYTHON
from common import Result
from common import Table
from common import Target
from common import clean_env
from common import layout_of
from common import log
from common import median
from common import project
from common import pytest_argv
from common import roadmap_text
from common import run_timed
from common import temp_dir

TARGET_IMPORT_MS = 20.0
NO_TESTS = 5  # pytest's exit code when it collected nothing
SHOWN_MODULES = 6

MODES: dict[str, tuple[int, int]] = {
    # start-up runs, import runs
    "full": (7, 9),
    "quick": (3, 3),
    "smoke": (2, 2),
}

FRONT_MATTER = """\
roadmap_task_timeout: 1800
roadmap_gates:
  - ruff check .
  - pytest -q
"""


def import_times(stderr: str) -> dict[str, int]:
    """Self time in microseconds per module from ``-X importtime`` output."""
    times: dict[str, int] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        parts = line[len("import time:") :].split("|")
        if len(parts) != 3 or not parts[0].strip().isdigit():
            continue  # the header line
        times[parts[2].strip()] = int(parts[0])
    return times


def extra_import_us(with_plugin: dict[str, int], without: dict[str, int]) -> dict[str, int]:
    """Modules imported only in the first run, with their self time."""
    return {name: us for name, us in with_plugin.items() if name not in without}


def _importtime(argv: list[str], cwd_ok: tuple[int, ...] = (0,)) -> dict[str, int]:
    with temp_dir("importtime") as cwd:
        done = run_timed([PYTHON, "-X", "importtime", *argv], cwd, clean_env(), ok=cwd_ok)
    return import_times(done.output)


def _extra(a: list[str], b: list[str], ok: tuple[int, ...]) -> dict[str, int]:
    return extra_import_us(_importtime(a, ok), _importtime(b, ok))


@dataclass(frozen=True)
class _Command:
    argv: list[str]
    cwd: Path
    ok: tuple[int, ...] = (0,)


def _interleaved(commands: list[_Command], runs: int) -> list[tuple[list[float], list[float]]]:
    """Wall and CPU times of each command, run round-robin so that changes in the
    machine's load hit all of them alike."""
    env = clean_env()
    out: list[tuple[list[float], list[float]]] = [([], []) for _ in commands]
    for _ in range(max(1, runs)):
        for command, (walls, cpus) in zip(commands, out, strict=True):
            done = run_timed(command.argv, command.cwd, env, ok=command.ok)
            walls.append(done.seconds)
            cpus.append(done.cpu_seconds)
    return out


def _spread(values: list[float], unit: str = "s", digits: int = 3) -> str:
    """'min (median)' of the samples."""
    return f"{min(values):.{digits}f} {unit} ({median(values):.{digits}f})"


def run(mode: str) -> Result:
    startup_runs, import_runs = MODES[mode]
    result = Result()
    layout = layout_of(2, 2, 4)
    text = roadmap_text(layout, mixed=True, front_matter=FRONT_MATTER)

    with project("startup", {"ROADMAP.md": text}) as proj, temp_dir("empty") as empty:
        log(f"start-up: {startup_runs} runs each")
        (with_roadmap, with_cpu), (plain, plain_cpu), (no_plugin, no_plugin_cpu) = _interleaved(
            [
                _Command(pytest_argv("--roadmap", "ROADMAP.md", "--collect-only", "-q"), proj.path),
                _Command(pytest_argv("--collect-only", "-q"), empty, (NO_TESTS,)),
                _Command(
                    pytest_argv("-p", "no:roadmap", "--collect-only", "-q"), empty, (NO_TESTS,)
                ),
            ],
            startup_runs,
        )

    log(f"import cost: {import_runs} runs each")
    direct = ["-c", "import pytest_roadmap.plugin"]
    baseline = ["-c", "import pytest"]
    _importtime(direct)  # byte-compile and warm the file cache first
    samples = [_extra(direct, baseline, (0,)) for _ in range(max(1, import_runs))]
    import_ms = [sum(s.values()) / 1000 for s in samples]
    session_with = ["-m", "pytest", "--collect-only", "-q"]
    session_without = ["-m", "pytest", "-p", "no:roadmap", "--collect-only", "-q"]
    session_samples = [
        _extra(session_with, session_without, (NO_TESTS,)) for _ in range(max(1, import_runs))
    ]
    session_ms = [sum(s.values()) / 1000 for s in session_samples]
    top = _top_modules(samples)

    table = Table("Start-up and import cost", ["measure", "wall: min (median)", "CPU: min"])
    table.rows += [
        [
            "`pytest --roadmap ROADMAP.md --collect-only` (16 tasks)",
            _spread(with_roadmap),
            f"{min(with_cpu):.3f} s",
        ],
        [
            "`pytest --collect-only`, empty directory",
            _spread(plain),
            f"{min(plain_cpu):.3f} s",
        ],
        [
            "`pytest -p no:roadmap --collect-only`, empty directory",
            _spread(no_plugin),
            f"{min(no_plugin_cpu):.3f} s",
        ],
        [
            "ratio --roadmap / empty",
            f"{min(with_roadmap) / min(plain):.2f} ({median(with_roadmap) / median(plain):.2f})",
            f"{min(with_cpu) / min(plain_cpu):.2f}",
        ],
        [
            "ratio empty / -p no:roadmap (plugin loaded, unused)",
            f"{min(plain) / min(no_plugin):.2f} ({median(plain) / median(no_plugin):.2f})",
            f"{min(plain_cpu) / min(no_plugin_cpu):.2f}",
        ],
        ["import cost without --roadmap, vs `import pytest`", _spread(import_ms, "ms", 1), ""],
        ["import cost without --roadmap, in a real session", _spread(session_ms, "ms", 1), ""],
        [
            "largest self times (vs `import pytest`, min)",
            ", ".join(f"{name} {us / 1000:.1f} ms" for name, us in top),
            "",
        ],
    ]
    table.notes += [
        f"wall and CPU (user + system) times: {startup_runs} runs each, round-robin; "
        f"import costs: {import_runs} runs of "
        "`python -X importtime`, summed self time of the modules only the plugin imports",
        "in a real session: `pytest --collect-only` with and without `-p no:roadmap`, so "
        "modules pytest's other plugins import anyway are not counted",
        "min is the least disturbed by other load on the machine; the target uses it",
    ]
    result.tables.append(table)
    result.metrics["import_ms"] = min(import_ms)
    result.targets.append(
        Target(
            "import cost without --roadmap",
            min(import_ms),
            TARGET_IMPORT_MS,
            "ms",
            measured=f"vs `import pytest`; {min(session_ms):.1f} ms in a real session",
        )
    )
    fastest = min(samples, key=_total)
    result.raw["startup"] = {
        "with_roadmap_s": with_roadmap,
        "empty_s": plain,
        "no_plugin_s": no_plugin,
        "with_roadmap_cpu_s": with_cpu,
        "empty_cpu_s": plain_cpu,
        "no_plugin_cpu_s": no_plugin_cpu,
        "import_ms": import_ms,
        "session_import_ms": session_ms,
        "modules_us": fastest,
    }
    return result


def _total(sample: dict[str, int]) -> int:
    return sum(sample.values())


def _top_modules(samples: list[dict[str, int]]) -> list[tuple[str, int]]:
    """Modules with the largest self time (the least across the samples)."""
    names = {name for sample in samples for name in sample}
    least = {name: min(s.get(name, 0) for s in samples) for name in names}
    return sorted(least.items(), key=lambda kv: -kv[1])[:SHOWN_MODULES]
