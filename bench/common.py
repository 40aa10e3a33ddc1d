"""What every benchmark shares: temporary git projects, synthetic roadmaps, timed runs, tables."""

from __future__ import annotations

import compileall
import contextlib
import functools
import io
import itertools
import json
import os
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FAKE_AGENT = ROOT / "tests" / "fake_agent.py"
PYTHON = sys.executable
RUN_TIMEOUT = 3600.0

#: A task layout: phases, each a list of groups, each a list of task ids.
Layout = list[list[list[str]]]

#: Variables of the caller that would change what a benchmarked pytest run does.
_DROPPED_PREFIXES = ("PYTEST_", "FAKE_AGENT_", "CLAUDE", "COV_CORE_")
_DROPPED = frozenset({"MAX_PARALLEL_AGENTS", "TASK_TIMEOUT", "IS_SANDBOX", "PYTHONBREAKPOINT"})


class BenchError(RuntimeError):
    """A benchmarked command did not do what it should: the numbers would mean nothing."""


def log(message: str) -> None:
    """Progress for the person waiting; stdout is kept for the results."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of every benchmarked command: ours, minus pytest/agent settings."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(_DROPPED_PREFIXES) and key not in _DROPPED
    }
    env.update(
        {
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": "Roadmap Bench",
            "GIT_AUTHOR_EMAIL": "bench@example.invalid",
            "GIT_COMMITTER_NAME": "Roadmap Bench",
            "GIT_COMMITTER_EMAIL": "bench@example.invalid",
            "PY_COLORS": "0",
        }
    )
    env.update(extra or {})
    return env


# -- timed runs --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One finished command: wall time, its own peak RSS, exit code and output, and the CPU
    time of the command and the descendants it waited for (user + system)."""

    seconds: float
    maxrss_kib: int
    returncode: int
    output: str
    cpu_seconds: float = 0.0


def run_timed(
    argv: Sequence[str],
    cwd: Path,
    env: Mapping[str, str] | None = None,
    *,
    ok: Sequence[int] = (0,),
    timeout: float = RUN_TIMEOUT,
) -> Run:
    """Run ``argv`` to the end; wall time, and peak RSS from ``wait4`` (this child only).

    The wait is a blocking ``wait4`` (no polling latency); a timer kills the command's
    whole session on timeout. Output (stdout and stderr) goes to a temporary file.
    """
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env if env is not None else clean_env()),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        timer = threading.Timer(timeout, _kill_session, (proc.pid,))
        timer.start()
        try:
            _pid, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        output = out.read().decode("utf-8", "replace")
    if proc.returncode not in ok:
        tail = "\n".join(output.splitlines()[-40:])
        raise BenchError(
            f"{shlex.join(argv)} (in {cwd}) exited with {proc.returncode}, "
            f"expected {' or '.join(map(str, ok))}:\n{tail}"
        )
    cpu = usage.ru_utime + usage.ru_stime
    return Run(seconds, int(usage.ru_maxrss), proc.returncode, output, cpu)


def _kill_session(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


# -- projects ----------------------------------------------------------------------------------


def git(cwd: Path, *args: str) -> None:
    """Run git quietly in ``cwd``; raise BenchError when it fails."""
    done = subprocess.run(
        ["git", "-c", "commit.gpgsign=false", *args],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        raise BenchError(f"git {' '.join(args)} failed in {cwd}: {done.stderr.strip()}")


@dataclass
class Project:
    """A temporary git repository holding a committed ROADMAP.md (and other files)."""

    path: Path

    @property
    def roadmap(self) -> Path:
        return self.path / "ROADMAP.md"

    def reset(self) -> None:
        """Remove everything a run left (logs, status files, caches): back to the commit."""
        git(self.path, "clean", "-fdxq")


@contextmanager
def temp_dir(name: str) -> Iterator[Path]:
    """A temporary directory, removed afterwards whatever happens."""
    path = Path(tempfile.mkdtemp(prefix=f"roadmap-bench-{name}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextmanager
def project(name: str, files: Mapping[str, str]) -> Iterator[Project]:
    """A temporary git project with ``files`` committed; removed afterwards."""
    with temp_dir(name) as path:
        for relative, text in {"pytest.ini": "[pytest]\n", **files}.items():
            target = path / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        git(path, "init", "-q", "-b", "main")
        git(path, "add", "-A")
        git(path, "commit", "-qm", "bench project")
        yield Project(path)


# -- synthetic roadmaps ------------------------------------------------------------------------


def group_letters(index: int) -> str:
    """0 -> 'A', 25 -> 'Z', 26 -> 'AA': a distinct group id for every index."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def layout_of(phases: int, groups: int, tasks: int) -> Layout:
    """``phases`` x ``groups`` x ``tasks``; every group gets its own letters, tasks A1, A2..."""
    out: Layout = []
    counter = 0
    for _ in range(phases):
        phase = []
        for _ in range(groups):
            letters = group_letters(counter)
            counter += 1
            phase.append([f"{letters}{t}" for t in range(1, tasks + 1)])
        out.append(phase)
    return out


def layout_of_size(total: int, per_group: int = 10, groups_per_phase: int = 10) -> Layout:
    """About ``total`` tasks in groups of ``per_group``, ``groups_per_phase`` groups a phase."""
    groups = max(1, total // per_group)
    phases = max(1, -(-groups // groups_per_phase))
    layout = layout_of(phases, groups_per_phase, per_group)
    flat = [group for phase in layout for group in phase][:groups]
    return [flat[i : i + groups_per_phase] for i in range(0, len(flat), groups_per_phase)]


def task_count(layout: Layout) -> int:
    return sum(len(group) for phase in layout for group in phase)


def groups_of(layout: Layout) -> list[list[str]]:
    return [group for phase in layout for group in phase]


_DESCRIPTION = "implement the parser and its tests, then wire it into the command line and docs"


def _description(task_id: str) -> str:
    return f"{task_id}: {_DESCRIPTION[: 40 + 7 * (len(task_id) % 6)].rstrip()}"


def roadmap_text(layout: Layout, *, mixed: bool = False, front_matter: str = "") -> str:
    """Markdown for ``layout``: bullet tasks, or (``mixed``) bullets, tables and headings."""
    lines = [f"---\n{front_matter.rstrip()}\n---", ""] if front_matter else []
    lines += ["# Synthetic roadmap", ""]
    index = 0
    for p, phase in enumerate(layout, 1):
        lines += [f"## Phase {p}: Phase {p}", ""]
        for group in phase:
            letters = group[0].rstrip("0123456789")
            lines += [f"### Group {letters}: Group {letters} (Parallel)", ""]
            style = index % 3 if mixed else 0
            index += 1
            if style == 1:
                lines += ["| Task | Description | Status |", "|------|-------------|--------|"]
                lines += [f"| **{t}: Task {t}** | {_description(t)} | Todo |" for t in group]
            elif style == 2:
                for t in group:
                    lines += [f"#### {t}: Task {t}", "", _description(t), ""]
            else:
                lines += [f"- **{t}: Task {t}** - {_description(t)}" for t in group]
            lines.append("")
    return "\n".join(lines)


# -- pytest command lines ----------------------------------------------------------------------


def pytest_argv(*args: str) -> list[str]:
    return [PYTHON, "-m", "pytest", *args]


@functools.cache
def roadmap_options() -> frozenset[str]:
    """The ``--roadmap*`` options of the plugin under test, from ``pytest --help``."""
    with temp_dir("help") as cwd:
        done = run_timed(pytest_argv("--help"), cwd, clean_env())
    return frozenset(re.findall(r"--roadmap-[a-z-]+", done.output))


def no_stagger() -> list[str]:
    """``--roadmap-stagger 0`` when the plugin paces agent starts, else nothing."""
    return ["--roadmap-stagger", "0"] if "--roadmap-stagger" in roadmap_options() else []


def roadmap_argv(
    agent: str, *args: str, workers: int | None = None, defaults: bool = False
) -> list[str]:
    """``pytest --roadmap ROADMAP.md`` with ``agent``, no gates, commit or resume; quiet.

    Agent starts are not paced (``--roadmap-stagger 0``) unless ``defaults``.
    """
    if not defaults:
        args = (*no_stagger(), *args)
    argv = pytest_argv(
        "--roadmap",
        "ROADMAP.md",
        "--roadmap-agent-command",
        agent,
        "--roadmap-no-gates",
        "--roadmap-no-commit",
        "--roadmap-redo",
        "-q",
        *args,
    )
    if workers is not None:
        argv += ["-n", str(workers)]
    return argv


def fake_agent_command() -> str:
    return shlex.join([PYTHON, str(FAKE_AGENT)])


def plan_env(plan: Mapping[str, list[str]]) -> dict[str, str]:
    return clean_env({"FAKE_AGENT_PLAN": json.dumps(plan)})


def passed_count(output: str) -> int:
    """The 'N passed' count of pytest's summary line (0 when there is none)."""
    for line in reversed(output.splitlines()):
        words = line.replace(",", " ").split()
        for before, word in itertools.pairwise(words):
            if word == "passed" and before.isdigit():
                return int(before)
    return 0


def expect_passed(run: Run, at_least: int, what: str) -> None:
    """Fail loudly when a benchmarked run did not run what it should have."""
    if passed_count(run.output) < at_least:
        tail = "\n".join(run.output.splitlines()[-20:])
        raise BenchError(f"{what}: expected at least {at_least} passed items:\n{tail}")


# -- the plugin under test -------------------------------------------------------------------


def describe_source() -> str:
    """Which pytest_roadmap the benchmarks run (see :func:`use_source`)."""
    return os.environ.get("ROADMAP_BENCH_SOURCE", "pytest_roadmap as installed")


def use_source(folder: Path, ref: str | None = None, source: Path | None = None) -> None:
    """Benchmark a fixed copy of ``pytest_roadmap``: as of git ``ref``, or from the directory
    ``source`` (which holds a ``pytest_roadmap/``, e.g. a patched copy), else a snapshot of
    the working tree now (edits made during a long run then do not mix versions).

    The copy goes to ``folder``, is byte-compiled, and comes first on the import path,
    here (``sys.path``) and in every subprocess (``PYTHONPATH``).
    """
    head = _git_out("rev-parse", "--short", "HEAD") or "?"
    if ref is None:
        origin = (source or ROOT) / "pytest_roadmap"
        if not (origin / "plugin.py").is_file():
            raise BenchError(f"{origin}: no pytest_roadmap package there")
        shutil.copytree(
            origin, folder / "pytest_roadmap", ignore=shutil.ignore_patterns("__pycache__")
        )
        if source is not None:
            what = f"copy from {source}"
        else:
            dirty = _git_out("status", "--porcelain", "--", "pytest_roadmap")
            what = f"working tree at {head}" + (" with uncommitted changes" if dirty else "")
    else:
        _export(ref, folder)
        what = f"{ref} ({_git_out('rev-parse', '--short', ref)})"
    compileall.compile_dir(folder, quiet=1)
    os.environ["ROADMAP_BENCH_SOURCE"] = f"pytest_roadmap: {what}"
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(folder), os.environ.get("PYTHONPATH", "")) if p
    )
    sys.path.insert(0, str(folder))


def _export(ref: str, folder: Path) -> None:
    archive = subprocess.run(
        ["git", "archive", "--format=tar", ref, "pytest_roadmap"],
        cwd=ROOT,
        capture_output=True,
        timeout=120,
    )
    if archive.returncode != 0:
        raise BenchError(f"git archive {ref}: {archive.stderr.decode(errors='replace').strip()}")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        if hasattr(tarfile, "data_filter"):  # Python 3.10.12+, 3.11.4+
            tar.extractall(folder, filter="data")
        else:
            tar.extractall(folder)


def _git_out(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=60)
    return done.stdout.strip() if done.returncode == 0 else ""


# -- results -----------------------------------------------------------------------------------


@dataclass
class Table:
    """One results table, printed as Markdown."""

    title: str
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def render(self) -> str:
        widths = [len(h) for h in self.headers]
        for row in self.rows:
            widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

        def line(cells: Sequence[str]) -> str:
            return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

        out = [f"### {self.title}", "", line(self.headers)]
        out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        out += [line(row) for row in self.rows]
        if self.notes:
            out += [""] + [f"- {note}" for note in self.notes]
        return "\n".join(out)


@dataclass(frozen=True)
class Target:
    """A goal the benchmark checks: ``value`` must stay at or below ``limit``."""

    name: str
    value: float
    limit: float
    unit: str = ""
    measured: str = ""

    @property
    def met(self) -> bool:
        return self.value <= self.limit


@dataclass
class Result:
    """What one benchmark produced: tables, summary metrics and targets."""

    tables: list[Table] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    targets: list[Target] = field(default_factory=list)
    raw: dict[str, object] = field(default_factory=dict)


def fmt(value: float, digits: int = 3) -> str:
    return f"{value:.{digits}f}"
