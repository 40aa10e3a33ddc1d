"""The plugin end to end: ``pytest --roadmap ROADMAP.md -n 2`` running the real Claude Code CLI.

Each test builds a git project from examples/npm-app with its own ROADMAP.md,
scripts the Messages API server (tests/e2e/messages_api.py) per task, runs the
plugin in a subprocess with the CLI aimed at that server, and checks what the
plugin made of it: exit code, files, status files, logs, commits, the JUnit
outcomes and which tasks the server heard from. The gate is the example's
default npm scripts (typecheck, lint, test, build).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.conftest import Project
from tests.conftest import git

from .messages_api import MessagesAPI
from .messages_api import bash
from .messages_api import hang
from .messages_api import status
from .messages_api import task_for_request
from .messages_api import text

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "npm-app"

#: Bound of one plugin run (a few CLI runs of ~1 s, xdist start-up, npm gates).
RUN_TIMEOUT = 180
#: Bound of the wait for processes of a finished run to disappear.
LEFTOVER_WAIT = 10.0

ROADMAP = """\
# E2E roadmap

## Phase 1: Foundation

### Group A: Modules
- **A1: First module** - create src/a1.js exporting a1
- **A2: Second module** - create src/a2.js exporting a2

### Group B (Parallel, after A)
- **B1: Third module** - create src/b1.js exporting b1
"""

#: Group A has one task more than there are workers (-n 2): A3 waits for a free one.
ROADMAP_THREE_IN_A = ROADMAP.replace(
    "exporting a2\n", "exporting a2\n- **A3: Fourth module** - create src/a3.js exporting a3\n"
)

TASK_IDS = ("A1", "A2", "A3", "B1")


def write_module(name: str) -> str:
    """The Bash command an agent runs for task ``name``: src/<name>.js, lint-clean ESM."""
    return f"mkdir -p src && printf 'export const {name} = 1;\\n' > src/{name}.js"


def module_script(task: str) -> list[Any]:
    return [bash(write_module(task.lower())), text(f"done {task}")]


# -- the project and the run -------------------------------------------------------------------


def make_project(
    project: Project,
    roadmap: str = ROADMAP,
    ini: str | None = None,
    ignore_logs: bool = True,
) -> Path:
    """examples/npm-app plus ``roadmap`` (and a pytest.ini), committed: a clean tree.

    The example's .gitignore lists ``logs/``; ``ignore_logs=False`` drops that line.
    """
    shutil.copytree(
        EXAMPLE,
        project.path,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns("ROADMAP.md", "node_modules", "dist"),
    )
    gitignore = project.path / ".gitignore"
    lines = gitignore.read_text(encoding="utf-8").splitlines()
    assert "logs/" in lines
    if not ignore_logs:
        gitignore.write_text(
            "".join(f"{line}\n" for line in lines if line != "logs/"), encoding="utf-8"
        )
    if ini is not None:
        (project.path / "pytest.ini").write_text(ini, encoding="utf-8")
    project.roadmap(roadmap)
    assert git(project.path, "status", "--porcelain") == ""
    return project.path


@dataclass
class PluginRun:
    """What one ``pytest --roadmap`` subprocess did."""

    returncode: int
    stdout: str
    stderr: str
    elapsed: float
    junit: dict[str, tuple[str, str]]
    leftover: list[str]

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def describe(self) -> str:
        return (
            f"rc={self.returncode} elapsed={self.elapsed:.1f}s leftover={self.leftover}\n"
            f"--- stdout ---\n{self.stdout[-6000:]}\n--- stderr ---\n{self.stderr[-3000:]}"
        )


def plugin_env(
    claude_env: Mapping[str, str], claude_bin: Path, **extra: str | None
) -> dict[str, str]:
    """``claude_env`` plus CLAUDE_BIN, without our own pytest's variables; None drops a key."""
    env = {k: v for k, v in claude_env.items() if not k.startswith("PYTEST_")}
    env.update(
        CLAUDE_BIN=str(claude_bin),
        PY_COLORS="0",
        npm_config_update_notifier="false",
        npm_config_fund="false",
        npm_config_audit="false",
    )
    for key, value in extra.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def processes_with_env(needle: str) -> list[str]:
    """Live processes (not us) whose environment contains ``needle``, as 'pid cmdline'."""
    found = []
    for proc in psutil.process_iter(["pid"]):
        if proc.pid == os.getpid():
            continue
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            raw = Path(f"/proc/{proc.pid}/environ").read_bytes()
            if needle.encode() in raw.split(b"\0"):
                found.append(f"{proc.pid} {' '.join(proc.cmdline())[:200]}")
        except (OSError, psutil.Error):
            continue
    return found


def wait_for_no_processes(needle: str, timeout: float = LEFTOVER_WAIT) -> list[str]:
    """Poll until no process has ``needle`` in its environment; return the survivors."""
    deadline = time.monotonic() + timeout
    while True:
        left = processes_with_env(needle)
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.1)


def _kill_everything_started(proc: subprocess.Popen[str]) -> None:
    """After a run timed out: the run's process group and every descendant, by pid."""
    try:
        descendants = psutil.Process(proc.pid).children(recursive=True)
    except psutil.Error:
        descendants = []
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    for child in descendants:  # the agents run in sessions of their own
        with contextlib.suppress(psutil.Error):
            child.kill()


def read_junit(path: Path) -> dict[str, tuple[str, str]]:
    """Local node id ("phase1::groupA::A1") -> (outcome, message)."""
    if not path.exists():
        return {}
    found: dict[str, tuple[str, str]] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        parts = case.get("classname", "").split(".")
        local = "::".join([*parts[2:], case.get("name", "")])
        outcome, message = "passed", ""
        for child in case:
            if child.tag in ("skipped", "failure", "error"):
                outcome = {"skipped": "skipped", "failure": "failed", "error": "error"}[child.tag]
                message = f"{child.get('message', '')}\n{child.text or ''}"
        found[local] = (outcome, message)
    return found


def run_plugin(
    project_dir: Path, env: Mapping[str, str], *args: str, timeout: float = RUN_TIMEOUT
) -> PluginRun:
    """``pytest --roadmap ROADMAP.md -n 2 --roadmap-no-push`` in ``project_dir``, bounded."""
    junit_path = project_dir.parent / f"{project_dir.name}-junit.xml"
    junit_path.unlink(missing_ok=True)
    argv = [
        sys.executable,
        "-m",
        "pytest",
        "--roadmap",
        "ROADMAP.md",
        "-n",
        "2",
        "--roadmap-no-push",
        "-rfEs",
        f"--junitxml={junit_path}",
        *args,
    ]
    start = time.monotonic()
    proc = subprocess.Popen(
        argv,
        cwd=project_dir,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except BaseException:
        _kill_everything_started(proc)
        proc.communicate(timeout=30)
        raise
    elapsed = time.monotonic() - start
    leftover = wait_for_no_processes(f"CLAUDE_CONFIG_DIR={env['CLAUDE_CONFIG_DIR']}")
    for entry in leftover:  # ours (they carry this test's config dir): the test fails anyway
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(int(entry.split()[0]), signal.SIGKILL)
    return PluginRun(
        returncode=proc.returncode,
        stdout=stdout,
        stderr=stderr,
        elapsed=elapsed,
        junit=read_junit(junit_path),
        leftover=leftover,
    )


# -- what the run left behind --------------------------------------------------------------------


def requests_by_prompt(api: MessagesAPI) -> dict[str | None, int]:
    """Messages requests per task named in their prompt (works for the ``"*"`` script too)."""
    counts: dict[str | None, int] = {}
    for request in api.requests:
        if request.is_messages:
            task = task_for_request(request.body, TASK_IDS)
            counts[task] = counts.get(task, 0) + 1
    return counts


def task_logs(project_dir: Path, task: str, phase: int = 1, group: str = "A") -> list[Path]:
    return sorted(
        (project_dir / "logs" / "orchestrator").glob(f"phase{phase}_group{group}_{task}_*.log")
    )


def stream_events(log: Path) -> list[dict[str, Any]]:
    """The stream-json events the CLI wrote into a task log."""
    events = []
    for line in log.read_text(encoding="utf-8").splitlines():
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                event = json.loads(line)
                if isinstance(event, dict):
                    events.append(event)
    return events


def status_lines(project_dir: Path, name: str) -> list[str]:
    path = project_dir / "status" / name
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def commit_subjects(project_dir: Path) -> list[str]:
    return git(project_dir, "log", "--format=%s").splitlines()


def outcome(run: PluginRun, local: str) -> str:
    assert local in run.junit, f"{local} not in the JUnit report\n{run.describe()}"
    return run.junit[local][0]


def message(run: PluginRun, local: str) -> str:
    return run.junit[local][1]


# -- the tests -----------------------------------------------------------------------------------


def test_success_runs_every_task_gate_and_commit(
    project: Project,
    messages_api: MessagesAPI,
    claude_env: dict[str, str],
    claude_bin: Path,
) -> None:
    for task in ("A1", "A2", "B1"):
        messages_api.script(task, module_script(task))
    path = make_project(project)

    run = run_plugin(path, plugin_env(claude_env, claude_bin))

    assert run.returncode == 0, run.describe()
    assert run.junit == {
        "phase1::groupA::A1": ("passed", ""),
        "phase1::groupA::A2": ("passed", ""),
        "phase1::groupA::gate": ("passed", ""),
        "phase1::groupB::B1": ("passed", ""),
        "phase1::groupB::gate": ("passed", ""),
        "phase1::commit": ("passed", ""),
    }, run.describe()
    for name in ("a1", "a2", "b1"):
        assert (path / "src" / f"{name}.js").read_text() == f"export const {name} = 1;\n"
    assert status_lines(path, "completed_tasks.txt") == ["PHASE_1:A", "PHASE_1:B"]
    assert status_lines(path, "in_progress_tasks.txt") == []
    assert status_lines(path, "pending_tasks.txt") == []

    # Every task: two turns (the Bash call, then the final text), named by its own prompt.
    for task in ("A1", "A2", "B1"):
        turns = messages_api.requests_for(task)
        assert len(turns) == 2, (task, len(turns))
        assert [r["is_error"] for r in turns[1].tool_results()] == [False]
    assert messages_api.requests_for(None) == []

    # The log of A1 holds the CLI's stream-json, its result event included.
    logs = task_logs(path, "A1")
    assert len(logs) == 1, logs
    log_text = logs[0].read_text(encoding="utf-8")
    assert re.search(r'^\{.*"type":"result"', log_text, re.M), log_text[-2000:]
    assert "--permission-mode bypassPermissions" in log_text.splitlines()[0]
    results = [e for e in stream_events(logs[0]) if e.get("type") == "result"]
    assert len(results) == 1
    result = results[0]
    assert result["is_error"] is False
    assert result["result"] == "done A1"
    cost = result["total_cost_usd"]
    assert isinstance(cost, (int, float)) and cost > 0

    # The STATUS file carries the agent's cost and summary.
    status_md = (path / "PHASE1-GROUP-A-STATUS.md").read_text(encoding="utf-8")
    a1_row = next(line for line in status_md.splitlines() if line.startswith("| A1 |"))
    cells = [cell.strip() for cell in a1_row.strip("|").split("|")]
    assert cells[0:3] == ["A1", "First module", "passed"], a1_row
    assert cells[5] == f"{cost:.4f}", (a1_row, cost)
    assert re.search(r"^Total cost: \$\d+\.\d{4}$", status_md, re.M), status_md
    assert "### A1: First module\n\ndone A1\n" in status_md
    assert "### A2: Second module\n\ndone A2\n" in status_md
    assert "| `npm test` | 0 |" in status_md
    assert (path / "PHASE1-GROUP-B-STATUS.md").is_file()

    # The phase commit, with logs/ in the example's .gitignore (where git add refuses
    # an ':(exclude)logs/orchestrator' pathspec: "paths are ignored"): the agents'
    # files in, the logs (and dist/ of the build gate) out, nothing left over.
    subjects = commit_subjects(path)
    assert subjects[0] == "Complete Phase 1: Foundation", subjects
    committed = git(path, "show", "--name-only", "--format=", "HEAD").split()
    assert {"src/a1.js", "src/a2.js", "src/b1.js", "PHASE1-GROUP-A-STATUS.md"} <= set(committed)
    assert not [name for name in committed if name.startswith("logs/")]
    assert (path / "dist" / "a1.js").is_file()  # the build gate ran
    assert not [name for name in committed if name.startswith("dist/")]
    # the HTML report, rewritten until the run's end, stays out of the commits
    left = git(path, "status", "--porcelain", "--untracked-files=all")
    assert left == "?? status/roadmap-report.html\n"
    assert run.leftover == []


def test_http_401_is_systemic_and_stops_the_run(
    project: Project,
    messages_api: MessagesAPI,
    claude_env: dict[str, str],
    claude_bin: Path,
) -> None:
    # A1 and A2 take both workers; A3 would start when one is free, but the first
    # 401 is a systemic failure and nothing may start any more.
    # The CLI's default environment: it would retry the 401 for minutes; the plugin ends it.
    messages_api.script("*", [status(401)] * 50)
    path = make_project(project, ROADMAP_THREE_IN_A)
    started = time.monotonic()

    run = run_plugin(path, plugin_env(claude_env, claude_bin))

    assert run.returncode == 1, run.describe()
    assert "Claude Code is not logged in" in run.output, run.describe()
    assert "systemic agent failure" in run.output, run.describe()
    # A1 and A2 were sent to the workers together, before either failed.
    failed = [local for local, (out, _) in run.junit.items() if out == "failed"]
    assert sorted(failed) == ["phase1::groupA::A1", "phase1::groupA::A2"], run.describe()
    for local in failed:
        assert message(run, local).startswith(
            "Claude Code is not logged in (the API answered 401"
        ), run.describe()
    for local in ("phase1::groupA::A3", "phase1::groupA::gate", "phase1::groupB::B1"):
        assert outcome(run, local) == "skipped", run.describe()
        assert "blocked: systemic agent failure: Claude Code is not logged in" in message(
            run, local
        ), run.describe()

    asked = requests_by_prompt(messages_api)
    assert "A3" not in asked, asked
    assert "B1" not in asked, asked
    # the second refusal in a row ends the agent (one alone can be a hiccup)
    assert set(asked) == {"A1", "A2"} and max(asked.values()) <= 2, asked
    first = min(r.received_at for r in messages_api.requests if r.is_messages)
    assert started + run.elapsed - first < 10, run.describe()
    assert not (path / "src" / "a1.js").exists()
    assert status_lines(path, "completed_tasks.txt") == []
    assert "Complete Phase 1: Foundation" not in commit_subjects(path)
    assert run.leftover == []


def test_http_400_is_error_fails_the_task_only(
    project: Project,
    messages_api: MessagesAPI,
    claude_env: dict[str, str],
    claude_bin: Path,
) -> None:
    # The CLI re-sends a refused turn a few times, then ends with is_error true.
    messages_api.script("A1", [status(400, "scripted bad request")] * 12)
    messages_api.script("A2", module_script("A2"))
    messages_api.script("B1", module_script("B1"))
    path = make_project(project)

    run = run_plugin(path, plugin_env(claude_env, claude_bin))

    assert run.returncode == 1, run.describe()
    assert outcome(run, "phase1::groupA::A1") == "failed", run.describe()
    a1_message = message(run, "phase1::groupA::A1")
    assert a1_message.startswith("API Error: 400 scripted bad request"), a1_message
    assert "log: logs/orchestrator/phase1_groupA_A1_" in a1_message
    assert "A1 failed in" in run.stdout and "API Error: 400" in run.stdout, run.describe()
    assert outcome(run, "phase1::groupA::A2") == "passed", run.describe()
    assert (path / "src" / "a2.js").is_file()
    assert outcome(run, "phase1::groupA::gate") == "skipped"
    assert message(run, "phase1::groupA::gate").strip().endswith("tasks failed: A1")
    assert outcome(run, "phase1::groupB::B1") == "skipped"
    assert "blocked: Phase 1 Group A task A1 failed" in message(run, "phase1::groupB::B1")
    assert outcome(run, "phase1::commit") == "skipped"
    assert "systemic" not in run.output

    assert len(messages_api.requests_for("A1")) >= 2  # the CLI's own re-sends
    assert not messages_api.requests_for("B1")
    [log] = task_logs(path, "A1")
    [result] = [e for e in stream_events(log) if e.get("type") == "result"]
    assert result["is_error"] is True and result["api_error_status"] == 400
    assert status_lines(path, "completed_tasks.txt") == []
    assert not (path / "PHASE1-GROUP-A-STATUS.md").exists()
    assert "Complete Phase 1: Foundation" not in commit_subjects(path)
    assert run.leftover == []


def test_hanging_agent_times_out_and_is_killed(
    project: Project,
    messages_api: MessagesAPI,
    claude_env: dict[str, str],
    claude_bin: Path,
) -> None:
    messages_api.script("A1", [hang()])
    messages_api.script("A2", module_script("A2"))
    path = make_project(project)
    env = plugin_env(claude_env, claude_bin)

    run = run_plugin(path, env, "--roadmap-task-timeout", "5")

    assert run.returncode == 1, run.describe()
    assert outcome(run, "phase1::groupA::A1") == "failed", run.describe()
    assert message(run, "phase1::groupA::A1").startswith("Task A1 timed out after 5s")
    assert outcome(run, "phase1::groupA::A2") == "passed", run.describe()
    assert outcome(run, "phase1::groupA::gate") == "skipped"
    assert outcome(run, "phase1::groupB::B1") == "skipped"
    assert len(messages_api.requests_for("A1")) == 1
    assert not messages_api.requests_for("B1")
    [log] = task_logs(path, "A1")
    last_line = log.read_text(encoding="utf-8").splitlines()[-1]
    assert last_line.startswith("=== roadmap agent end: timed out; killed after 5."), last_line
    assert status_lines(path, "in_progress_tasks.txt") == []
    # 5 s timeout plus a kill grace of at most 5 s, plus start-up: far below the backstop.
    assert run.elapsed < 60, run.describe()
    # No process that got this run's environment is left: no CLI, no worker.
    assert run.leftover == [], run.describe()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root is refused bypassPermissions")
def test_root_without_is_sandbox_is_refused_before_anything_runs(
    project: Project,
    messages_api: MessagesAPI,
    claude_env: dict[str, str],
    claude_bin: Path,
) -> None:
    path = make_project(project)

    run = run_plugin(path, plugin_env(claude_env, claude_bin, IS_SANDBOX=None))

    assert run.returncode == 4, run.describe()
    error_lines = [line for line in run.stderr.splitlines() if line.startswith("ERROR:")]
    assert error_lines, run.describe()
    assert error_lines[0].startswith(
        "ERROR: Claude Code refuses --permission-mode bypassPermissions as root: set IS_SANDBOX=1"
    ), run.describe()
    assert messages_api.requests == []
    assert not (path / "status").exists()
    assert not (path / "logs").exists()
    assert git(path, "status", "--porcelain") == ""
    assert run.leftover == []


def test_claude_args_from_ini_reach_the_cli(
    project: Project,
    messages_api: MessagesAPI,
    claude_env: dict[str, str],
    claude_bin: Path,
) -> None:
    messages_api.script("A1", [bash("true"), bash("true"), bash("true")])
    messages_api.script("A2", [text("done A2")])
    path = make_project(project, ini="[pytest]\nroadmap_claude_args = --max-turns 1\n")

    run = run_plugin(path, plugin_env(claude_env, claude_bin))

    assert run.returncode == 1, run.describe()
    assert outcome(run, "phase1::groupA::A1") == "failed", run.describe()
    assert message(run, "phase1::groupA::A1").startswith(
        "error_max_turns: Reached maximum number of turns (1)"
    ), run.describe()
    # One turn is within the limit.
    assert outcome(run, "phase1::groupA::A2") == "passed", run.describe()
    [a2_log] = task_logs(path, "A2")
    assert "--max-turns 1" in a2_log.read_text(encoding="utf-8").splitlines()[0]
    [log] = task_logs(path, "A1")
    first_line = log.read_text(encoding="utf-8").splitlines()[0]
    assert first_line.endswith(" --max-turns 1"), first_line  # after the deny rules
    assert "--permission-mode bypassPermissions --settings '" in first_line, first_line
    assert '["Edit(./ROADMAP.md)", "Write(./ROADMAP.md)", ' in first_line, first_line
    assert len(messages_api.requests_for("A1")) < 3  # the script's third Bash call never came
    assert outcome(run, "phase1::groupB::B1") == "skipped"
    assert run.leftover == []


def test_phase_commit_leaves_out_logs_that_are_not_gitignored(
    project: Project,
    messages_api: MessagesAPI,
    claude_env: dict[str, str],
    claude_bin: Path,
) -> None:
    # Without logs/ in .gitignore only the plugin's own exclusion keeps the agents'
    # logs out of the phase commit. No gates: they play no part here.
    for task in ("A1", "A2", "B1"):
        messages_api.script(task, module_script(task))
    path = make_project(project, ignore_logs=False)

    run = run_plugin(path, plugin_env(claude_env, claude_bin), "--roadmap-no-gates")

    assert run.returncode == 0, run.describe()
    assert outcome(run, "phase1::commit") == "passed", run.describe()
    assert commit_subjects(path)[0] == "Complete Phase 1: Foundation"
    committed = git(path, "show", "--name-only", "--format=", "HEAD").split()
    assert {"src/a1.js", "src/a2.js", "src/b1.js"} <= set(committed), committed
    assert not [name for name in committed if name.startswith("logs/")], committed
    assert len(task_logs(path, "A1")) == 1
    left = git(path, "status", "--porcelain", "--untracked-files=all").splitlines()
    assert "?? status/roadmap-report.html" in left  # the HTML report stays out too
    left.remove("?? status/roadmap-report.html")
    assert left and all(line.startswith("?? logs/orchestrator/") for line in left), left
    assert run.leftover == []
