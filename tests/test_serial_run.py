"""Serial runs with the fake agent: agents, gates, status files, logs, resume, failures."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest

from .conftest import Project
from .conftest import git

ONE_GROUP = "## Phase 1: Solo\n\n### Group A: Only\n- **A1: Alone** - do it\n"


def test_full_run_writes_what_the_bash_script_wrote(project: Project) -> None:
    project.roadmap()
    result = project.run(agent=project.agent("--stream-json", "--write", "out.txt"))
    result.assert_outcomes(passed=9)
    assert result.ret == 0
    assert project.status("roadmap_tasks.txt") == [
        "PHASE_1:A:A1:First task",
        "PHASE_1:A:A2:Second task",
        "PHASE_1:B:B1:Third task",
        "PHASE_2:C:C1:Last task",
    ]
    assert project.status("completed_tasks.txt") == ["PHASE_1:A", "PHASE_1:B", "PHASE_2:C"]
    assert project.status("pending_tasks.txt") == []
    assert project.status("in_progress_tasks.txt") == []
    logs = project.logs()
    for task in ("phase1_groupA_A1", "phase1_groupA_A2", "phase1_groupB_B1", "phase2_groupC_C1"):
        assert any(re.fullmatch(rf"{task}_\d+\.log", name) for name in logs), logs
    status_md = (project.path / "PHASE1-GROUP-A-STATUS.md").read_text()
    assert "# Phase 1 · Group A: Base — complete" in status_md
    assert "| A1 | First task | passed |" in status_md
    assert "0.0123" in status_md
    result.stdout.fnmatch_lines(
        [
            "[[]roadmap] Phase 1 · Group A: Base — 2 tasks, 1 agent",
            "[[]roadmap] A1 started: First task",
            "[[]roadmap] A1 passed in *s ($0.0123, 2 turns)",
        ]
    )


def test_phase_commits_exclude_logs(project: Project) -> None:
    project.roadmap()
    project.run(agent=project.agent("--write", "work.txt")).assert_outcomes(passed=9)
    subjects = git(project.path, "log", "--format=%s").splitlines()
    assert subjects[:2] == ["Complete Phase 2: More", "Complete Phase 1: Foundation"]
    body = git(project.path, "log", "-1", "--skip=1", "--format=%B")
    assert "Roadmap-Phase: 1" in body and "Roadmap-Groups: A,B" in body
    assert "- A1: First task (done)" in body
    tracked = git(project.path, "ls-files").splitlines()
    assert "work.txt" in tracked and "status/completed_tasks.txt" in tracked
    assert "PHASE1-GROUP-A-STATUS.md" in tracked
    assert not [path for path in tracked if path.startswith("logs/")]


def test_prompt_reaches_the_agent_byte_exact(project: Project) -> None:
    title = "Quote ' \" `tick` $(rm -rf /) ; | & ünïcødé ✓"
    project.roadmap(f"## Phase 1: P\n### Group A: G\n- **A1: {title}** - text with $HOME\n")
    project.run("--roadmap-no-commit").assert_outcomes(passed=2, skipped=1)
    prompt = project.records("start")[0]["prompt"]
    assert prompt.startswith(f"Implement Phase 1, Group A, Task A1: {title}\n")
    assert "text with $HOME" in prompt
    assert "Do not commit" in prompt


def test_prompt_template_and_prompt_file(project: Project) -> None:
    project.roadmap(ONE_GROUP)
    (project.path / "prompt.txt").write_text(
        "{task_id}|{task_title}|{group_id}|{phase_number}|{siblings}|{unknown}|{roadmap_path}"
    )
    project.pytester.makeini("[pytest]\nroadmap_prompt_template = prompt.txt\n")
    agent = project.agent("--prompt-file", "{prompt_file}")
    project.run("--roadmap-no-commit", agent=agent).assert_outcomes(passed=2, skipped=1)
    prompt = project.records("start")[0]["prompt"]
    assert prompt == "A1|Alone|A|1|(none)|{unknown}|ROADMAP.md"


def test_agent_environment(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    project.roadmap(ONE_GROUP)
    monkeypatch.setenv("CLAUDECODE", "1")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test-secret")
    script = project.pytester.makepyfile(
        env_agent="import json, os\njson.dump(dict(os.environ), open('env.json', 'w'))\n"
    )
    import sys

    result = project.run("--roadmap-no-commit", agent=f"{sys.executable} {script}")
    result.assert_outcomes(passed=2, skipped=1)
    env = json.loads((project.path / "env.json").read_text())
    assert env["ROADMAP_TASK_ID"] == "A1"
    assert env["ROADMAP_GROUP"] == "A" and env["ROADMAP_PHASE"] == "1"
    assert env["ROADMAP_LOG"].endswith(".log")
    assert env["ANTHROPIC_API_KEY"] == "sk-test-secret"
    assert "CLAUDECODE" not in env
    log = (project.path / "logs" / "orchestrator" / project.logs()[0]).read_text()
    assert "sk-test-secret" not in log


def test_failed_task_skips_its_gate_and_blocks_later_groups(project: Project) -> None:
    project.roadmap()
    result = project.run("-rs", plan={"A2": ["--stdout", "compiler said no", "--exit", "3"]})
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=1, failed=1, skipped=7)
    result.stdout.fnmatch_lines_random(
        [
            "*agent exited with code 3: compiler said no",
            "log: logs/orchestrator/phase1_groupA_A2_*.log",
            "*compiler said no*",
            "SKIPPED [[]1] ROADMAP.md:5: tasks failed: A2",
            "SKIPPED [[]1] ROADMAP.md:10: blocked: Phase 1 Group A task A2 failed",
            "SKIPPED [[]1] ROADMAP.md:12: blocked: Phase 1 Group A task A2 failed",
        ]
    )
    assert {r["task"] for r in project.records("start")} == {"A1", "A2"}
    assert project.status("completed_tasks.txt") == []
    assert "PHASE_1:A:A2:Second task" in project.status("pending_tasks.txt")


def test_gate_failure_blocks_and_logs(project: Project) -> None:
    project.roadmap()
    result = project.run(
        "-rs", "--roadmap-gate", "echo checking; exit 2", "--roadmap-fix-attempts", "0"
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=2, failed=1, skipped=6)
    result.stdout.fnmatch_lines_random(
        [
            "*Phase 1 Group A gate failed: 'echo checking; exit 2' exited with code 2",
            "log: logs/orchestrator/phase1_groupA_gate_*.log",
            "SKIPPED [[]1] ROADMAP.md:10: blocked: Phase 1 Group A gate failed",
        ]
    )
    assert any(name.startswith("phase1_groupA_gate_") for name in project.logs())
    assert not (project.path / "PHASE1-GROUP-A-STATUS.md").exists()


def test_resume_runs_only_the_gate_and_failed_tasks(project: Project) -> None:
    project.roadmap()
    gate = "test -f fixed"
    first = project.run("--roadmap-gate", gate, plan={"A2": ["--exit", "1"]})
    assert first.ret == pytest.ExitCode.TESTS_FAILED
    (project.path / "fixed").write_text("by hand\n")
    second = project.run("--roadmap-gate", gate, "-rs")
    second.assert_outcomes(passed=8, skipped=1)
    second.stdout.fnmatch_lines(["SKIPPED [[]1] ROADMAP.md:6: passed in an earlier run"])
    runs = [r["task"] for r in project.records("start")]
    assert runs == ["A1", "A2", "A2", "B1", "C1"]
    status_md = (project.path / "PHASE1-GROUP-A-STATUS.md").read_text()
    assert "| A1 | First task | passed in an earlier run |" in status_md


def test_hand_edited_completed_file_skips_groups(project: Project) -> None:
    project.roadmap()
    (project.path / "status").mkdir()
    (project.path / "status" / "completed_tasks.txt").write_text("PHASE_1:A\n")
    result = project.run("-rs")
    result.assert_outcomes(passed=6, skipped=3)
    result.stdout.fnmatch_lines(
        ["SKIPPED [[]1] ROADMAP.md:6: already complete: status/completed_tasks.txt"]
    )
    assert [r["task"] for r in project.records("start")] == ["B1", "C1"]
    redo = project.run("--roadmap-redo", "--roadmap-no-commit")
    redo.assert_outcomes(passed=7, skipped=2)


def test_changed_task_text_drops_its_earlier_pass(project: Project) -> None:
    project.roadmap(ONE_GROUP)
    project.run("--roadmap-no-commit", "--roadmap-gate", "false", "--roadmap-fix-attempts", "0")
    project.roadmap(ONE_GROUP.replace("do it", "do it differently"), commit=False)
    project.run("--roadmap-no-commit")
    assert [r["task"] for r in project.records("start")] == ["A1", "A1"]


def test_done_in_roadmap_is_skipped(project: Project) -> None:
    project.roadmap(
        "## Phase 1: P\n### Group A: G\n"
        "| Task | Status |\n|---|---|\n| **A1: Old** | ✅ Done |\n| **A2: New** | Todo |\n"
    )
    result = project.run("-rs", "--roadmap-no-commit")
    result.stdout.fnmatch_lines(["SKIPPED [[]1] ROADMAP.md:5: done in ROADMAP.md"])
    assert [r["task"] for r in project.records("start")] == ["A2"]


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_timeout_kills_the_whole_process_tree(project: Project) -> None:
    project.roadmap(ONE_GROUP)
    agent = project.agent("--spawn-grandchild", "--pid-file", "grandchild.pid")
    result = project.run("--task-timeout", "2", "--roadmap-no-commit", agent=agent)
    result.assert_outcomes(failed=1, skipped=2)
    result.stdout.fnmatch_lines(["*Task A1 timed out after 2s*"])
    grandchild = int((project.path / "grandchild.pid").read_text())
    deadline = time.monotonic() + 10
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(grandchild)


def test_is_error_with_exit_zero_fails(project: Project) -> None:
    project.roadmap(ONE_GROUP)
    agent = project.agent("--stream-json", "--is-error", "API Error: 400 bad request")
    result = project.run("--roadmap-no-commit", agent=agent)
    result.assert_outcomes(failed=1, skipped=2)
    result.stdout.fnmatch_lines(["*API Error: 400 bad request*"])


def test_systemic_failure_stops_the_run(project: Project) -> None:
    project.roadmap()
    result = project.run("-rs", agent=project.agent("--not-logged-in"))
    result.assert_outcomes(failed=1, skipped=8)
    result.stdout.fnmatch_lines_random(
        [
            "*Claude Code is not logged in (Not logged in · Please run /login)*",
            "SKIPPED [[]1] ROADMAP.md:7: blocked: systemic agent failure: "
            "Claude Code is not logged in*",
        ]
    )
    assert [r["task"] for r in project.records("start")] == ["A1"]


def test_gate_commands_from_conftest_fixture(project: Project) -> None:
    project.roadmap()
    project.pytester.makeconftest(
        "import pytest\n"
        "@pytest.fixture\n"
        "def roadmap_gate_commands(roadmap_group, roadmap_gate_commands):\n"
        "    if roadmap_group.id == 'B':\n"
        "        return [*roadmap_gate_commands, 'echo extra-check > extra.txt']\n"
        "    return roadmap_gate_commands\n"
    )
    result = project.run("--roadmap-gate", "true", "--roadmap-no-commit")
    result.assert_outcomes(passed=7, skipped=2)
    assert (project.path / "extra.txt").exists()


def test_default_npm_gates(project: Project) -> None:
    project.roadmap(ONE_GROUP)
    (project.path / "package.json").write_text(
        json.dumps({"scripts": {"test": "echo tested > tested.txt", "build": "exit 1"}})
    )
    result = project.run("--roadmap-no-commit")
    result.assert_outcomes(passed=1, failed=1, skipped=1)
    result.stdout.fnmatch_lines(
        ["*Phase 1 Group A gate failed: 'npm run build' exited with code 1*"]
    )
    assert (project.path / "tested.txt").exists()


def test_gate_passes_without_package_json(project: Project) -> None:
    project.roadmap(ONE_GROUP)
    assert not os.path.exists(project.path / "package.json")
    project.run("--roadmap-no-commit").assert_outcomes(passed=2, skipped=1)


def test_commit_when_logs_are_gitignored(project: Project) -> None:
    (project.path / ".gitignore").write_text("logs/\n")
    project.roadmap(ONE_GROUP)
    project.run(agent=project.agent("--write", "done.txt")).assert_outcomes(passed=3)
    assert "done.txt" in git(project.path, "ls-files").splitlines()
    assert git(project.path, "log", "-1", "--format=%s").strip() == "Complete Phase 1: Solo"
