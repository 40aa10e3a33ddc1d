"""Reliability and safety: run lock, interrupts, runs that died, unwritable dirs, huge output,
hostile titles, secrets, and a chaos run interrupted again and again.

Runs that must be signalled start as a subprocess in their own session (:class:`Running`);
every wait is bounded, and whatever a test started is killed at its end.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from pytest_roadmap.agents.prompt import DEFAULT_TEMPLATE
from pytest_roadmap.agents.prompt import prompt_values
from pytest_roadmap.agents.prompt import render
from pytest_roadmap.control.lock import INFO_NAME
from pytest_roadmap.control.lock import LOCK_NAME
from pytest_roadmap.model.load import load_roadmap

from .conftest import TWO_GROUPS
from .conftest import Project
from .conftest import git

WAIT = 60.0  # bound of every wait for a run or an agent
INTERRUPTED_EXIT = 2


# -- helpers ----------------------------------------------------------------------------------


def wait_for(what: str, check: Callable[[], bool], timeout: float = WAIT) -> None:
    """Poll ``check`` until it is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.05)


class Running:
    """``pytest --roadmap`` started in its own session, its output in a file beside the repo."""

    count = 0

    def __init__(
        self,
        project: Project,
        *args: str,
        agent: str | None = None,
        plan: dict[str, list[str]] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        Running.count += 1
        self.project = project
        self.out = project.path.parent / f"{project.path.name}-run{Running.count}.txt"
        environ = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
        environ["FAKE_AGENT_RECORD"] = str(project.record)
        if plan is not None:
            environ["FAKE_AGENT_PLAN"] = json.dumps(plan)
        environ.update(env or {})
        argv = [
            sys.executable,
            "-m",
            "pytest",
            "--roadmap",
            "ROADMAP.md",
            "--roadmap-agent-command",
            agent or project.agent(),
            "--roadmap-no-push",
            "-p",
            "no:randomly",
            *args,
        ]
        with open(self.out, "wb") as out:
            self.proc = subprocess.Popen(
                argv,
                cwd=project.path,
                env=environ,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid = self.proc.pid

    def signal(self, sig: signal.Signals) -> None:
        os.kill(self.pid, sig)

    def wait(self, timeout: float = WAIT) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"pytest did not end within {timeout:g}s:\n{self.output()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL the run's process group (pytest and its workers; agents have their own)."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
            self.proc.wait(10)

    def output(self) -> str:
        return self.out.read_text(encoding="utf-8", errors="replace")


@pytest.fixture
def runs(project: Project) -> Iterator[Callable[..., Running]]:
    """Start runs with ``runs(*args, ...)``; at the end kill what is left of them."""
    started: list[Running] = []

    def start(*args: str, **kwargs: Any) -> Running:
        running = Running(project, *args, **kwargs)
        started.append(running)
        return running

    yield start
    for running in started:
        running.kill()
    for pid in agent_pids_alive(project):
        kill_agent(pid)


def agent_pids_alive(project: Project) -> list[int]:
    """Fake agents of this project's records that still run."""
    alive = []
    for pid in {record["pid"] for record in project.records("start")}:
        try:
            proc = psutil.Process(pid)
            if proc.status() != psutil.STATUS_ZOMBIE and "fake_agent" in " ".join(proc.cmdline()):
                alive.append(pid)
        except psutil.Error:
            pass
    return alive


def kill_agent(pid: int) -> None:
    """SIGKILL one fake agent of ours (it runs in its own session)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def started_tasks(project: Project, since: int = 0) -> list[str]:
    """Task ids of the agent starts recorded after the first ``since`` records."""
    return [r["task"] for r in project.records()[since:] if r["event"] == "start"]


def record(project: Project, key: str) -> dict[str, Any]:
    """The cache record of one task (``PHASE_1:A:A1``)."""
    path = project.path / ".pytest_cache" / "v" / "roadmap" / "tasks" / "ROADMAP.md" / key
    if not path.exists():
        return {}
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its content, but .git, pytester's output files and
    the HTML report (a running run keeps rewriting it)."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
        and ".git" not in path.relative_to(folder).parts
        and path.name not in ("stdout", "stderr", "roadmap-report.html")
    }


def children_of(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def none_alive(procs: list[psutil.Process]) -> bool:
    for proc in procs:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                return False
        except psutil.Error:
            pass
    return True


# -- run lock ---------------------------------------------------------------------------------


def test_second_run_is_refused_and_touches_nothing(
    project: Project, runs: Callable[..., Running]
) -> None:
    project.roadmap()
    first = runs(plan={"A1": ["--sleep", "60"]})
    wait_for("A1 to start", lambda: "A1" in started_tasks(project))
    info = json.loads((project.path / "status" / INFO_NAME).read_text())
    assert info["pid"] == first.pid
    before = snapshot(project.path)
    records_before = len(project.records())

    second = project.run()

    assert second.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in second.errlines if line.strip()]
    assert errors == [
        f"ERROR: another roadmap run is in progress (pid {first.pid}, started {info['started']})"
    ]
    assert "Traceback" not in second.stdout.str() + second.stderr.str()
    assert len(project.records()) == records_before
    assert snapshot(project.path) == before
    # a lock file deleted under the run does not let a second run in: its holder is alive
    (project.path / "status" / LOCK_NAME).unlink()
    third = project.run()
    assert third.ret == pytest.ExitCode.USAGE_ERROR
    third.stderr.fnmatch_lines([f"ERROR: another roadmap run is in progress (pid {first.pid}, *"])
    assert len(project.records()) == records_before
    first.signal(signal.SIGINT)
    assert first.wait() == INTERRUPTED_EXIT
    assert not (project.path / "status" / INFO_NAME).exists()
    assert not (project.path / "status" / LOCK_NAME).exists()


def test_dry_run_collect_only_and_status_take_no_lock(
    project: Project, runs: Callable[..., Running]
) -> None:
    project.roadmap()
    first = runs(plan={"A1": ["--sleep", "60"]})
    wait_for("A1 to start", lambda: "A1" in started_tasks(project))
    assert project.run("--roadmap-dry-run").ret == 0
    assert project.run("--collect-only").ret == 0
    assert project.run("--roadmap-status").ret == 0
    first.signal(signal.SIGTERM)
    assert first.wait() == INTERRUPTED_EXIT


def test_kill_9_then_resume(project: Project, runs: Callable[..., Running]) -> None:
    project.roadmap()
    dead = runs(plan={"A2": ["--sleep", "60"]})
    wait_for("A2 to start", lambda: "A2" in started_tasks(project))
    orphans = agent_pids_alive(project)
    dead.signal(signal.SIGKILL)
    assert dead.wait() == -signal.SIGKILL
    status = project.path / "status"
    assert json.loads((status / INFO_NAME).read_text())["pid"] == dead.pid
    assert project.status("in_progress_tasks.txt") == ["PHASE_1:A:A2"]
    # A2's agent runs in a session of its own, but gets SIGTERM when pytest dies (the
    # parent-death signal); the lock does not outlive pytest: the agent never inherited it
    assert orphans
    if sys.platform.startswith("linux"):
        wait_for("A2's agent to end with pytest", lambda: not agent_pids_alive(project), 10)
    marker = len(project.records())

    result = project.run()

    for pid in orphans:
        kill_agent(pid)
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            f"*RoadmapWarning: took over the run lock of a run that is no longer running "
            f"(pid {dead.pid}, started *)",
            f"*RoadmapWarning: previous run (pid {dead.pid}) died while running: PHASE_1:A:A2",
        ]
    )
    assert started_tasks(project, marker) == ["A2", "B1", "C1"]  # A1 passed before the kill
    result.stdout.fnmatch_lines(["*passed in an earlier run*"])
    assert project.status("in_progress_tasks.txt") == []
    assert project.status("completed_tasks.txt") == ["PHASE_1:A", "PHASE_1:B", "PHASE_2:C"]
    assert not (status / INFO_NAME).exists()
    tracked = git(project.path, "ls-files").splitlines()
    assert not [path for path in tracked if ".roadmap-run" in path]


# -- interrupts -------------------------------------------------------------------------------


def test_progress_files_follow_a_running_group(
    project: Project, runs: Callable[..., Running]
) -> None:
    """A task that ends leaves pending_tasks.txt during the run, not only at its end."""
    project.roadmap()
    run = runs(plan={"A2": ["--sleep", "60"]})
    wait_for("A2 to start", lambda: "A2" in started_tasks(project))
    assert project.status("in_progress_tasks.txt") == ["PHASE_1:A:A2"]
    wait_for(
        "A1 to leave pending_tasks.txt",
        lambda: project.status("pending_tasks.txt")[:1] == ["PHASE_1:A:A2:Second task"],
        10,
    )
    run.signal(signal.SIGINT)
    assert run.wait() == INTERRUPTED_EXIT


def test_sigint_serial_then_resume(project: Project, runs: Callable[..., Running]) -> None:
    project.roadmap()
    run = runs(agent=project.agent("--stream-json"), plan={"A2": ["--sleep", "60"]})
    wait_for("A2 to start", lambda: "A2" in started_tasks(project))
    run.signal(signal.SIGINT)
    assert run.wait() == INTERRUPTED_EXIT
    output = run.output()
    assert "Interrupted: PHASE_1:A:A2 did not finish" in output, output
    assert "KeyboardInterrupt" in output
    wait_for("the agents to end", lambda: not agent_pids_alive(project), 10)
    assert project.status("in_progress_tasks.txt") == []
    assert project.status("interrupted_tasks.txt") == ["PHASE_1:A:A2"]
    a2 = record(project, "PHASE_1:A:A2")
    assert a2["outcome"] == "interrupted"
    assert a2["session_id"] == "fake-session-A2"
    assert record(project, "PHASE_1:A:A1")["outcome"] == "passed"
    marker = len(project.records())

    result = project.run()

    assert result.ret == 0, result.stdout.str()
    assert started_tasks(project, marker) == ["A2", "B1", "C1"]
    assert project.status("interrupted_tasks.txt") == []
    assert not (project.path / "status" / "interrupted_tasks.txt").exists()


def test_second_sigint_forces_the_kill(project: Project, runs: Callable[..., Running]) -> None:
    project.roadmap()
    run = runs(agent=project.agent("--hang", "--ignore-term"))  # SIGTERM alone won't do
    wait_for("A1 to start", lambda: "A1" in started_tasks(project))
    run.signal(signal.SIGINT)
    time.sleep(0.3)  # within the 2 s grace the interrupted agent gets after SIGTERM
    if run.proc.poll() is None:
        run.signal(signal.SIGINT)
    assert run.wait() == INTERRUPTED_EXIT
    wait_for("the agent to end", lambda: not agent_pids_alive(project), 10)
    assert project.status("in_progress_tasks.txt") == []
    assert project.status("interrupted_tasks.txt") == ["PHASE_1:A:A1"]


def test_sigterm_under_xdist_ends_workers_and_agents(
    project: Project, runs: Callable[..., Running]
) -> None:
    project.roadmap(
        "## Phase 1: P\n\n### Group A: G\n- **A1: a** - x\n- **A2: b** - x\n- **A3: c** - x\n"
        "\n### Group B: H\n- **B1: d** - x\n"
    )
    plan = {"A2": ["--sleep", "60"], "A3": ["--sleep", "60"]}
    run = runs("-n", "2", plan=plan)
    wait_for("A2 and A3 to start", lambda: {"A2", "A3"} <= set(started_tasks(project)))
    workers = children_of(run.pid)
    assert workers
    run.signal(signal.SIGTERM)
    assert run.wait() == INTERRUPTED_EXIT
    output = run.output()
    assert "Interrupted: PHASE_1:A:A2, PHASE_1:A:A3 did not finish" in output, output
    wait_for("the workers and agents to end", lambda: none_alive(workers), 10)
    assert not agent_pids_alive(project)
    ends = {r["task"] for r in project.records("end")}
    assert ends == {"A1"}
    assert project.status("in_progress_tasks.txt") == []
    assert project.status("interrupted_tasks.txt") == ["PHASE_1:A:A2", "PHASE_1:A:A3"]
    assert record(project, "PHASE_1:A:A3")["outcome"] == "interrupted"
    marker = len(project.records())

    result = project.run("-n", "2")

    assert result.ret == 0, result.stdout.str()
    assert sorted(started_tasks(project, marker)) == ["A2", "A3", "B1"]


def test_sighup_to_the_whole_process_group(project: Project, runs: Callable[..., Running]) -> None:
    """As a closed terminal: the controller and every worker get it (and SIGUSR1 after)."""
    project.roadmap()
    run = runs("-n", "2", plan={"A1": ["--sleep", "60"], "A2": ["--sleep", "60"]})
    wait_for("A1 and A2 to start", lambda: {"A1", "A2"} <= set(started_tasks(project)))
    os.killpg(run.pid, signal.SIGHUP)
    assert run.wait() == INTERRUPTED_EXIT
    wait_for("the agents to end", lambda: not agent_pids_alive(project), 10)
    assert project.status("in_progress_tasks.txt") == []
    assert project.status("interrupted_tasks.txt") == ["PHASE_1:A:A1", "PHASE_1:A:A2"]


# -- files that cannot be written -------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        (
            "roadmap_status_dir = blocked",
            "ERROR: cannot write status files in blocked: Not a directory",
        ),
        (
            "roadmap_status_dir = blocked/deeper",
            "ERROR: cannot write status files in blocked/deeper: *",
        ),
        (
            "roadmap_log_dir = /proc/roadmap-logs",
            "ERROR: cannot write logs in /proc/roadmap-logs: *",
        ),
    ],
)
def test_unwritable_dirs_are_one_line(project: Project, setting: str, message: str) -> None:
    (project.path / "blocked").write_text("a file, not a directory\n")
    name, value = (part.strip() for part in setting.split("="))
    project.roadmap(f"---\n{name}: {value}\n---\n" + TWO_GROUPS)
    result = project.run()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.errlines if line.strip()]
    assert len(errors) == 1, errors
    result.stderr.fnmatch_lines([message])
    assert project.records() == []
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_status_write_error_during_the_run(project: Project) -> None:
    project.roadmap()
    breaker = (
        'cat >/dev/null; if [ "$ROADMAP_TASK_ID" = A1 ]; then rm -rf status && echo x > status; fi'
    )
    result = project.run(agent=f"sh -c '{breaker}'")
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED, output
    assert "INTERNALERROR" not in output and "Traceback" not in output
    result.stdout.fnmatch_lines(
        ["[[]roadmap] stopping: cannot write status files in status: Not a directory; *"]
    )
    assert (project.path / "status").read_text() == "x\n"  # nothing half-written over it


# -- agents that misbehave --------------------------------------------------------------------


RSS_CONFTEST = """\
import os
import resource


def pytest_unconfigure(config):
    with open(os.environ["ROADMAP_TEST_RSS"], "w") as out:
        out.write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
"""


def test_huge_agent_output_keeps_memory_bounded(project: Project) -> None:
    size = 200_000_000
    project.pytester.makeconftest(RSS_CONFTEST)
    project.roadmap("## Phase 1: P\n\n### Group A: G\n- **A1: Loud** - print a lot\n")
    rss_file = project.path.parent / f"{project.path.name}-rss.txt"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ROADMAP_TEST_RSS", str(rss_file))
        result = project.run(
            "--roadmap-no-commit", agent=project.agent("--output-bytes", str(size), "--exit", "1")
        )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    (log,) = (project.path / "logs" / "orchestrator").glob("phase1_groupA_A1_*.log")
    assert log.stat().st_size > size  # every byte, plus our start and end lines
    assert len(result.stdout.str()) < 100_000  # the report holds a bounded tail
    peak_mb = int(rss_file.read_text()) / 1024
    print(f"peak RSS {peak_mb:.0f} MB, log {log.stat().st_size} bytes")
    assert peak_mb < 300, f"pytest's peak RSS was {peak_mb:.0f} MB"


HOSTILE = "Quote ' \" `touch pwned` $(touch pwned) ; touch pwned | & \\ %s {task_id} ünïcødé ✓"


def test_hostile_titles_are_data_not_code(project: Project) -> None:
    long_title = "L" * 10_000
    roadmap = (
        f"## Phase 1: {HOSTILE}\n\n"
        f"### Group A: {HOSTILE}\n"
        f"- **A1: {HOSTILE}** - text $(touch pwned) `touch pwned` {HOSTILE}\n"
        f"- **A2: {long_title}** - {'t' * 10_000}\n"
    )
    path = project.roadmap(roadmap)
    result = project.run("--roadmap-gate", "true")
    assert result.ret == 0, result.stdout.str()[-3000:]
    assert not list(project.path.rglob("pwned")) and not (project.path.parent / "pwned").exists()
    parsed = load_roadmap(path)
    phase = parsed.phases[0]
    group = phase.groups[0]
    prompts = {r["task"]: r["prompt"] for r in project.records("start")}
    for task in group.tasks:
        expected = render(DEFAULT_TEMPLATE, prompt_values("ROADMAP.md", phase, group, task))
        assert prompts[task.id] == expected
    assert group.tasks[0].title == HOSTILE
    assert group.tasks[1].title == long_title
    for name in project.logs():
        assert re.fullmatch(r"[A-Za-z0-9_.-]+", name), name
    message = git(project.path, "log", "-1", "--format=%B")
    assert f"- A1: {HOSTILE} (done)" in message
    assert project.status("pending_tasks.txt") == []
    assert f"PHASE_1:A:A2:{long_title}" in project.status("roadmap_tasks.txt")


def test_secrets_never_reach_reports(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-ant-secret-" + os.urandom(12).hex()
    monkeypatch.setenv("ANTHROPIC_API_KEY", secret)
    project.roadmap(
        "## Phase 1: P\n\n### Group A: G\n- **A1: Echo** - x\n\n"
        "## Phase 2: Q\n\n### Group B: H\n- **B1: Fail loud** - x\n- **B2: Refused** - x\n"
    )
    plan = {
        "A1": ["--stdout", f"key={secret}"],
        "B1": ["--stdout", f"my key is {secret}", "--exit", "1"],
        "B2": ["--stream-json", "--is-error", f"API key {secret} refused"],
    }
    junit = project.path.parent / f"{project.path.name}-junit.xml"
    result = project.run(f"--junitxml={junit}", "-rA", plan=plan)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert "[redacted ANTHROPIC_API_KEY]" in result.stdout.str()
    outputs = {
        "stdout": result.stdout.str(),
        "stderr": result.stderr.str(),
        "junit": junit.read_text(encoding="utf-8"),
        "git log": git(project.path, "log", "--all", "-p", "--format=%H%n%B"),
    }
    for path in project.path.rglob("*"):
        if path.is_file() and ".git" not in path.parts and "logs" not in path.parts:
            outputs[str(path.relative_to(project.path))] = path.read_text("utf-8", "replace")
    assert "status/completed_tasks.txt" in outputs and "PHASE1-GROUP-A-STATUS.md" in outputs
    leaks = [name for name, text in outputs.items() if secret in text]
    assert leaks == []
    # the agents' own logs keep what they printed; they stay local, out of every commit
    logs = (project.path / "logs" / "orchestrator").glob("*.log")
    assert any(secret in path.read_text("utf-8", "replace") for path in logs)


# -- chaos ------------------------------------------------------------------------------------


def chaos_roadmap() -> str:
    parts = []
    for number, groups in ((1, "AB"), (2, "CD")):
        parts.append(f"## Phase {number}: Phase {number}\n")
        for group in groups:
            parts.append(f"### Group {group}: {group} stuff\n")
            parts += [f"- **{group}{i}: Task {group}{i}** - do {group}{i}\n" for i in range(1, 5)]
            parts.append("")
    return "\n".join(parts)


CHAOS_TASKS = [f"{group}{i}" for group in "ABCD" for i in range(1, 5)]
CHAOS_KEYS = {
    f"{group}{i}": f"PHASE_{1 if group in 'AB' else 2}:{group}:{group}{i}"
    for group in "ABCD"
    for i in range(1, 5)
}


def interrupt_when_busy(project: Project, run: Running, marker: int, delay: float) -> None:
    """SIGINT ``delay`` seconds after the run's first agent started (unless it ended)."""
    wait_for(
        "an agent to start",
        lambda: len(project.records()) > marker or run.proc.poll() is not None,
    )
    time.sleep(delay)
    if run.proc.poll() is None:
        run.signal(signal.SIGINT)


def test_chaos_interrupts_then_resume(project: Project, runs: Callable[..., Running]) -> None:
    rng = random.Random(20251125)
    project.roadmap(chaos_roadmap())
    plan = {task: ["--sleep", f"{rng.uniform(0.3, 1.0):.2f}"] for task in CHAOS_TASKS}
    args = ("-n", "4", "--roadmap-gate", "sleep 0.2", "--roadmap-stagger", "0")
    recorded: dict[str, int] = {}  # task -> the run after which its pass was recorded
    markers: list[int] = []  # record count at the start of each run
    exits = []
    interrupted: list[str] = []  # tasks the run before listed in interrupted_tasks.txt
    for attempt in range(5):
        markers.append(len(project.records()))
        run = runs(*args, plan=plan)
        if attempt < 4:
            interrupt_when_busy(project, run, markers[-1], rng.uniform(0.0, 2.5))
        exits.append(run.wait())
        wait_for("the agents to end", lambda: not agent_pids_alive(project), 10)
        assert project.status("in_progress_tasks.txt") == [], run.output()[-3000:]
        if exits[-1] != INTERRUPTED_EXIT:  # an early SIGINT may come before they start again
            assert set(interrupted) <= set(started_tasks(project, markers[-1])), interrupted
        listed = [line.rsplit(":", 1)[1] for line in project.status("interrupted_tasks.txt")]
        interrupted = [name for name in listed if name != "gate"]
        for task in interrupted:
            assert record(project, CHAOS_KEYS[task])["outcome"] == "interrupted"
        for task in CHAOS_TASKS:
            if (
                task not in recorded
                and record(project, CHAOS_KEYS[task]).get("outcome") == "passed"
            ):
                recorded[task] = attempt
    assert exits[-1] == 0, exits
    assert all(code in (0, INTERRUPTED_EXIT) for code in exits), exits
    assert INTERRUPTED_EXIT in exits
    markers.append(len(project.records()))
    rows = project.records()
    for task, after in recorded.items():
        later = [
            r for r in rows[markers[after + 1] :] if r["task"] == task and r["event"] == "start"
        ]
        assert later == [], f"{task} ran again after its pass was recorded in run {after}"
    ok = {r["task"] for r in rows if r["event"] == "end" and r["outcome"] == "ok"}
    assert ok == set(CHAOS_TASKS)
    assert set(recorded) == set(CHAOS_TASKS)
    assert project.status("completed_tasks.txt") == [
        "PHASE_1:A",
        "PHASE_1:B",
        "PHASE_2:C",
        "PHASE_2:D",
    ]
    assert project.status("pending_tasks.txt") == []
    assert project.status("in_progress_tasks.txt") == []
    assert not (project.path / "status" / "interrupted_tasks.txt").exists()


def test_ctrl_c_during_a_usage_limit_wait_then_resume(
    project: Project, runs: Callable[..., Running]
) -> None:
    """The wait is interruptible like any run; the sessions the limit stopped go on next time."""
    project.roadmap()
    now = time.time()
    meet = str(project.path.parent / f"{project.path.name}-meet")  # A1 and A2 both run
    limited = project.agent("--stream-json", "--meet", meet, "--limit-until", str(now + 3600))
    run = runs("-n", "2", agent=limited, env={"FAKE_AGENT_LIMIT_RESET": str(now + 600)})
    wait_for("the usage limit wait", lambda: "Ctrl-C stops" in run.output())
    wait_for("both agents to meet the limit", lambda: len(project.records("end")) == 2)
    time.sleep(1)  # the second task's word reaches the controller
    assert "usage limit (5-hour) reached: waiting until" in run.output()
    run.signal(signal.SIGINT)
    assert run.wait() == INTERRUPTED_EXIT
    assert sorted(project.status("interrupted_tasks.txt")) == ["PHASE_1:A:A1", "PHASE_1:A:A2"]
    for task in ("A1", "A2"):
        saved = record(project, f"PHASE_1:A:{task}")
        assert saved["outcome"] == "interrupted", saved
        assert (saved.get("session_id"), saved.get("limit_type")) == (
            f"fake-session-{task}",
            "five_hour",
        )
    marker = len(project.records())

    result = project.run("-n", "2", agent=project.agent("--stream-json"))

    assert result.ret == 0, result.stdout.str()
    again = [r for r in project.records()[marker:] if r["event"] == "start" and r["task"] < "B"]
    assert sorted(r["task"] for r in again) == ["A1", "A2"]
    assert all(str(r["prompt"]).startswith("Continue Phase 1") for r in again), again
