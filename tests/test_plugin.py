"""Collection, selection, settings and the one-line errors before anything runs."""

from __future__ import annotations

import os
import stat
import sys

import pytest

from .conftest import Project
from .conftest import git
from .conftest import path_without


def collected(result: pytest.RunResult) -> list[str]:
    return [line for line in result.outlines if line.startswith("ROADMAP.md::")]


def test_collect_only_prints_the_plan(project: Project) -> None:
    project.roadmap()
    result = project.run("--collect-only", "-q")
    assert collected(result) == [
        "ROADMAP.md::phase1::groupA::A1",
        "ROADMAP.md::phase1::groupA::A2",
        "ROADMAP.md::phase1::groupA::gate",
        "ROADMAP.md::phase1::groupB::B1",
        "ROADMAP.md::phase1::groupB::gate",
        "ROADMAP.md::phase1::commit",
        "ROADMAP.md::phase2::groupC::C1",
        "ROADMAP.md::phase2::groupC::gate",
        "ROADMAP.md::phase2::commit",
    ]
    assert not (project.path / "status").exists()


def test_keywords_select_a_group(project: Project) -> None:
    project.roadmap()
    result = project.run("--collect-only", "-q", "-k", "phase1 and groupB")
    assert collected(result) == [
        "ROADMAP.md::phase1::groupB::B1",
        "ROADMAP.md::phase1::groupB::gate",
    ]


@pytest.mark.parametrize(
    ("spec", "phases"),
    [("2", {"phase2"}), ("1-2", {"phase1", "phase2"}), ("1,2", {"phase1", "phase2"})],
)
def test_phases_option_limits_phases(project: Project, spec: str, phases: set[str]) -> None:
    project.roadmap()
    result = project.run("--roadmap-phases", spec, "-rs")
    ran = {r["task"] for r in project.records("start")}
    expected = ({"A1", "A2", "B1"} if "phase1" in phases else set()) | (
        {"C1"} if "phase2" in phases else set()
    )
    assert ran == expected
    if "phase1" not in phases:
        result.stdout.fnmatch_lines(["*Phase 1 not among the phases selected*"])


def test_bad_phases_option(project: Project) -> None:
    project.roadmap()
    result = project.run("--roadmap-phases", "two")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: invalid phases 'two' from --roadmap-phases*"])


def test_roadmap_is_the_only_collection_root(project: Project) -> None:
    project.roadmap()
    project.pytester.makepyfile(test_project_own="def test_fails():\n    assert False\n")
    project.pytester.makeini("[pytest]\ntestpaths = .\n")
    result = project.run()
    result.assert_outcomes(passed=9)


def test_inactive_without_roadmap_option(pytester: pytest.Pytester) -> None:
    pytester.makefile(".md", ROADMAP="## Phase 1: X\n### Group A: Y\n- **A1: Z** - z\n")
    pytester.makepyfile("def test_ok():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:randomly", timeout=60)
    result.assert_outcomes(passed=1)
    assert not [line for line in result.outlines if line.startswith("roadmap:")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("# Nothing here\n", "ROADMAP.md: no phases found*"),
        (
            "## Phase 1: X\n- **A1: T** - t\n### Group A: Y\n- **A2: U** - u\n",
            "ROADMAP.md:2: task A1 is outside a group*",
        ),
        (
            "## Phase 1: X\n### Group A: Y\nJust prose.\n",
            "ROADMAP.md:2: Phase 1 Group A has no tasks",
        ),
        (
            "## Phase 1: X\n### Group A: Y\n- **A1: T** - t\n- **A1: U** - u\n",
            "ROADMAP.md:4: duplicate task id A1 (first at line 3)",
        ),
        (
            "## Phase 1: X\n### Group A: Y\n- **A1: T** - t\n### Group A: Z\n- **A2: U** - u\n",
            "ROADMAP.md:4: duplicate Group A in Phase 1 (first at line 2)",
        ),
        (
            "---\n- a list\n---\n## Phase 1: X\n",
            "ROADMAP.md:1: front matter must be a YAML mapping",
        ),
        ("---\nkey: [unclosed\n---\n## Phase 1: X\n", "ROADMAP.md:*: bad front matter: *"),
        (
            "---\nroadmap_nonsense: 1\n---\n## Phase 1: X\n### Group A: Y\n- **A1: T** - t\n",
            "ROADMAP.md:1: unknown setting 'roadmap_nonsense' in front matter*",
        ),
    ],
)
def test_roadmap_errors_are_one_line_and_run_nothing(
    project: Project, text: str, message: str
) -> None:
    project.roadmap(text)
    result = project.run()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.errlines if line.startswith("ERROR:")]
    assert len(errors) == 1, result.errlines
    result.stderr.fnmatch_lines([f"ERROR: {message}"])
    assert "Traceback" not in result.stderr.str()
    assert not (project.path / "status").exists()
    assert project.records() == []


def test_missing_roadmap(project: Project) -> None:
    result = project.run()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: *ROADMAP.md: roadmap not found"])


def test_roadmap_not_utf8(project: Project) -> None:
    (project.path / "ROADMAP.md").write_bytes(b"## Phase 1: \xff\xfe\n")
    result = project.run()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: *ROADMAP.md: not UTF-8 text*"])


def test_front_matter_sets_task_timeout(project: Project) -> None:
    project.roadmap(
        "---\nroadmap_task_timeout: 1\n---\n## Phase 1: X\n### Group A: Y\n- **A1: T** - t\n"
    )
    result = project.run(agent=project.agent("--sleep", "30"), timeout=60)
    result.stdout.fnmatch_lines(["*Task A1 timed out after 1s*"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_command_line_beats_env_and_front_matter(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.roadmap(
        "---\nroadmap_task_timeout: 1\n---\n## Phase 1: X\n### Group A: Y\n- **A1: T** - t\n"
    )
    monkeypatch.setenv("TASK_TIMEOUT", "2")
    result = project.run("--task-timeout", "7", "--collect-only")
    result.stdout.fnmatch_lines(["*task timeout 7s*"])


def test_bad_timeout_names_its_source(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    project.roadmap()
    monkeypatch.setenv("TASK_TIMEOUT", "soon")
    result = project.run()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: invalid task timeout 'soon' from TASK_TIMEOUT environment variable*"]
    )


def test_claude_not_found(
    project: Project, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    project.roadmap()
    monkeypatch.setenv("PATH", path_without(tmp_path_factory, "claude"))
    result = project.pytester.runpytest_subprocess("--roadmap", "ROADMAP.md", timeout=60)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: Claude Code CLI not found! Install it (npm install -g "
            "@anthropic-ai/claude-code) or set roadmap_claude_bin"
        ]
    )
    assert not (project.path / "status").exists()


def test_dry_run_needs_no_agent_and_changes_no_file(
    project: Project, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    project.roadmap()
    monkeypatch.setenv("PATH", path_without(tmp_path_factory, "claude"))
    result = project.pytester.runpytest_subprocess(
        "--roadmap", "ROADMAP.md", "--roadmap-dry-run", "-p", "no:cacheprovider", timeout=60
    )
    result.assert_outcomes(passed=9)
    result.stdout.fnmatch_lines(
        [
            "*A1 would run: claude -p --output-format stream-json*: "
            "Implement Phase 1, Group A, Task A1: First task"
        ]
    )
    assert git(project.path, "status", "--porcelain") == ""


def test_agent_command_not_found(project: Project) -> None:
    project.roadmap()
    result = project.run(agent="no-such-agent-binary --go")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: agent command not found: 'no-such-agent-binary' (from roadmap_agent_command)"]
    )


def test_not_a_git_repository(pytester: pytest.Pytester) -> None:
    pytester.makefile(".md", ROADMAP="## Phase 1: X\n### Group A: Y\n- **A1: Z** - z\n")
    result = pytester.runpytest_subprocess(
        "--roadmap",
        "ROADMAP.md",
        "--roadmap-agent-command",
        f"{sys.executable} -c pass",
        timeout=60,
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: *: not inside a git repository*"])


def test_npm_gates_need_npm(
    project: Project, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    project.roadmap()
    (project.path / "package.json").write_text('{"scripts": {"test": "echo ok"}}')
    path = path_without(tmp_path_factory, "npm")
    monkeypatch.setenv("PATH", path)
    result = project.run()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: npm not found, but the gate runs npm scripts*"])


def test_git_identity_needed_to_commit(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    project.roadmap()
    git(project.path, "config", "--unset", "user.name")
    git(project.path, "config", "--unset", "user.email")
    monkeypatch.setenv("HOME", str(project.path))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    result = project.run()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: git has no user.name or user.email*--roadmap-no-commit)"])
    assert project.run("--roadmap-no-commit").ret == pytest.ExitCode.OK


@pytest.mark.skipif(os.geteuid() != 0, reason="the CLI refuses bypassPermissions only as root")
def test_root_without_is_sandbox(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    project.roadmap()
    fake_claude = project.path / "claude"
    fake_claude.write_text("#!/bin/sh\nexit 0\n")
    fake_claude.chmod(fake_claude.stat().st_mode | stat.S_IEXEC)
    monkeypatch.delenv("IS_SANDBOX", raising=False)
    monkeypatch.setenv("CLAUDE_BIN", str(fake_claude))
    result = project.pytester.runpytest_subprocess("--roadmap", "ROADMAP.md", timeout=60)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: Claude Code refuses --permission-mode bypassPermissions as root: "
            "set IS_SANDBOX=1*"
        ]
    )


def test_uncommitted_changes_are_listed(project: Project) -> None:
    project.roadmap()
    (project.path / "notes.txt").write_text("mine\n")
    result = project.run("--collect-only")
    result.stdout.fnmatch_lines(["*RoadmapWarning: uncommitted changes before the run: notes.txt*"])


def test_n_auto_means_max_parallel_agents(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    # four tasks in a group: -n never starts more workers than the largest group can use
    project.roadmap(
        "## Phase 1: P\n\n### Group A\n" + "".join(f"- [ ] A{i}: t\n" for i in range(4))
    )
    monkeypatch.setenv("MAX_PARALLEL_AGENTS", "3")
    result = project.run("-n", "auto", "--roadmap-no-commit")
    result.stdout.fnmatch_lines(
        ["created: 3/3 workers", "[[]roadmap] Phase 1 · Group A — 4 tasks, 3 agents"]
    )
    result.assert_outcomes(passed=5, skipped=1)


def test_bad_max_parallel_agents(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    project.roadmap()
    monkeypatch.setenv("MAX_PARALLEL_AGENTS", "many")
    result = project.run("-n", "auto")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: invalid MAX_PARALLEL_AGENTS 'many'*"])


def test_works_without_xdist(project: Project) -> None:
    project.roadmap()
    project.run("-p", "no:xdist").assert_outcomes(passed=9)


def test_pytest_timeout_backstop_leaves_room_for_retries_and_repairs(project: Project) -> None:
    """pytest-timeout steps in only after every retry or repair could have used its timeout."""
    project.roadmap()
    (project.path / "conftest.py").write_text(
        "def pytest_collection_finish(session):\n"
        "    for item in session.items:\n"
        "        print('backstop', item.name, item.get_closest_marker('timeout').args)\n",
        encoding="utf-8",
    )
    options = ["--task-timeout", "7", "--roadmap-retries", "2", "--roadmap-fix-attempts", "1"]
    options += ["--roadmap-gate", "true", "--roadmap-gate", "true", "--roadmap-limit-wait", "100"]
    result = project.run(*options, "--collect-only", "-s")
    # a task: 3 attempts of 7 s, backoffs of 5 s and 10 s, 100 s of usage limit, then a minute
    # a gate: 2 runs of 2 commands and 1 repair agent, 7 s each, 100 s, then a minute
    result.stdout.fnmatch_lines(
        ["backstop A1 (196.0,)", "backstop A2 (196.0,)", "backstop gate (195.0,)", "*C1 (196.0,)"]
    )
