"""Task checks: parsed from the roadmap, red before the agent, green after it, failures sent
back to the same session, check files kept from being weakened.

The fake agent writes ``a1.txt``; the check ``checks/A1.py`` wants ``ok`` in it and prints
what it found. ``--resumed-write`` writes only in a continued session.
"""

from __future__ import annotations

import shlex
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pytest_roadmap.model.checks import TaskCheck
from pytest_roadmap.model.checks import check_commands
from pytest_roadmap.model.checks import check_files
from pytest_roadmap.model.checks import parse_checks
from pytest_roadmap.model.roadmap import RoadmapError
from pytest_roadmap.model.roadmap import parse_roadmap
from pytest_roadmap.steps.checks import default_test_command

from .conftest import Project
from .conftest import git

PY = shlex.quote(sys.executable)
CHECK = f"{PY} checks/A1.py"
CHECK_SCRIPT = """\
import pathlib, sys
found = pathlib.Path("a1.txt").read_text().strip() if pathlib.Path("a1.txt").exists() else None
if found != "ok":
    print(f"A1 check: expected 'ok' in a1.txt, found {found!r}")
    sys.exit(1)
print("A1 check: ok")
"""

ONE_TASK = f"""\
# Checks

## Phase 1: Work

### Group A: One
| Task | What | Verify |
|---|---|---|
| **A1: Write ok** | write ok to a1.txt | `{CHECK}` |
"""

NO_CHECKS = """\
# Checks

## Phase 1: Work

### Group A: One
- **A1: Write ok** - write ok to a1.txt
"""


def setup_check(project: Project, roadmap: str = ONE_TASK) -> None:
    (project.path / "checks").mkdir()
    (project.path / "checks" / "A1.py").write_text(CHECK_SCRIPT, encoding="utf-8")
    project.roadmap(roadmap)


def agent(project: Project, *flags: str) -> str:
    return project.agent("--stream-json", *flags)


def properties(xml: Path, name: str) -> list[tuple[str, str]]:
    """The JUnit properties of the test case ``name``."""
    for case in ET.parse(xml).getroot().iter("testcase"):
        if case.get("name") == name:
            return [(p.get("name", ""), p.get("value", "")) for p in case.iter("property")]
    raise AssertionError(f"no test case {name} in {xml}")


def prop(props: list[tuple[str, str]], name: str) -> list[str]:
    return [value for key, value in props if key == name]


# -- the roadmap -------------------------------------------------------------------------


def test_checks_from_a_column_or_a_field() -> None:
    roadmap = parse_roadmap(
        """\
## Phase 1: X
### Group A: Y
| Task | What | Tests |
|---|---|---|
| **A1: a** | do | `node checks/A1.js` |
| **A2: b** | do | tests/test_auth.py::test_login, `npm test -- auth` |
| **A3: c** | do | - |
| **A4: d** | do | |
| **A5: e** | do | none |
### Group B: Z
- **B1: t** - do it
  Verify: `make x` and test/auth.test.js
- **B2: t** - do it
  **Done when:** the page loads
- **B3: t** - do it
  Checks: `tests/test_b.py`
"""
    )
    checks = {task.id: task.checks for _, _, task in roadmap.tasks()}
    assert checks == {
        "A1": (TaskCheck("node checks/A1.js"),),
        "A2": (
            TaskCheck("tests/test_auth.py::test_login", is_test=True),
            TaskCheck("npm test -- auth"),
        ),
        "A3": (),
        "A4": (),
        "A5": (),
        "B1": (TaskCheck("make x"), TaskCheck("test/auth.test.js", is_test=True)),
        "B2": (),
        "B3": (TaskCheck("tests/test_b.py", is_test=True),),
    }


def test_an_unclosed_backtick_is_an_error_at_its_task() -> None:
    text = "## Phase 1: X\n### Group A: Y\n- **A1: a** - do\n  Verify: `node x.js\n"
    with pytest.raises(RoadmapError, match=r"^ROADMAP.md:3: task A1: unclosed backtick"):
        parse_roadmap(text)


def test_check_commands_tests_through_the_test_command_and_run_wide_checks() -> None:
    checks = parse_checks("Verify: `node a.js`, tests/t.py::x tests/u.py")
    commands = check_commands(checks, "pytest -q {tests}", ["lint {task_id}"], "A1")
    assert commands == ("node a.js", "pytest -q tests/t.py::x tests/u.py", "lint A1")
    assert (
        check_commands(checks, "npm test --", (), "A1")[1] == "npm test -- tests/t.py::x tests/u.py"
    )
    assert check_files("pytest -q tests/t.py::x") == ("tests/t.py",)
    assert check_files("npm test -- auth") == ()
    assert check_files("grep -q hello hello.txt") == ()
    assert check_files("node checks/A1.js && sh tests/fixtures/") == (
        "checks/A1.js",
        "tests/fixtures/",
    )


def test_default_test_command_by_project_kind(tmp_path: Path) -> None:
    assert default_test_command(tmp_path).endswith(" -m pytest {tests}")
    (tmp_path / "package.json").write_text("{}", encoding="utf-8")
    assert default_test_command(tmp_path) == "npm test -- {tests}"
    (tmp_path / "pyproject.toml").write_text("", encoding="utf-8")
    assert default_test_command(tmp_path).endswith(" -m pytest {tests}")


# -- shown before anything runs ------------------------------------------------------------


def test_checks_in_collect_only_and_dry_run(project: Project) -> None:
    setup_check(project)
    collected = project.run("--collect-only", "-q")
    collected.stdout.fnmatch_lines([f"A1 checks: `{CHECK}`"])
    dry = project.run("--roadmap-dry-run")
    dry.stdout.fnmatch_lines([f"*A1 would run:*; checks: `{CHECK}`"])
    assert project.records() == []


def test_the_prompt_names_the_checks(project: Project) -> None:
    setup_check(project)
    result = project.run(agent=agent(project, "--write", "a1.txt=ok"))
    result.assert_outcomes(passed=3)
    [start] = project.records("start")
    assert "Your task is done when these pass" in start["prompt"]
    assert f"- `{CHECK}`" in start["prompt"]


def test_checks_placeholder_in_a_prompt_template(project: Project) -> None:
    setup_check(project)
    (project.path / "prompt.md").write_text("Do {task_id}.{checks}END", encoding="utf-8")
    result = project.run(
        "-o", "roadmap_prompt_template=prompt.md", agent=agent(project, "--write", "a1.txt=ok")
    )
    result.assert_outcomes(passed=3)
    [start] = project.records("start")
    assert start["prompt"].startswith("Do A1.\nYour task is done when")
    assert start["prompt"].endswith(f"- `{CHECK}`\nEND")


# -- red, then green ------------------------------------------------------------------------


def test_red_then_green(project: Project) -> None:
    setup_check(project)
    xml = project.path.parent / "red-green.xml"
    result = project.run(f"--junitxml={xml}", agent=agent(project, "--write", "a1.txt=ok"))
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*A1 Write ok*passed [[]red→green[]]*"])
    props = properties(xml, "A1")
    assert prop(props, "checks") == [CHECK]
    assert prop(props, "checks_before") == ["failed"]
    assert prop(props, "checks_after") == ["passed"]
    assert prop(props, "check_rounds") == ["1"]
    assert prop(props, "evidence") == ["red→green"]
    report = (project.path / "status" / "roadmap-report.html").read_text(encoding="utf-8")
    assert 'class="bar check failed"' in report and 'class="bar check passed"' in report
    assert "passed: evidence: red→green" in report
    log = (project.path / "logs" / "orchestrator").glob("*A1*.log")
    text = "\n".join(p.read_text(encoding="utf-8") for p in log)
    assert "A1 check: expected 'ok' in a1.txt, found None" in text  # before
    assert "A1 check: ok" in text  # after


def test_a_check_green_before_the_task_is_no_evidence(project: Project) -> None:
    (project.path / "a1.txt").write_text("ok\n", encoding="utf-8")
    setup_check(project)
    xml = project.path.parent / "no-evidence.xml"
    result = project.run(f"--junitxml={xml}", agent=agent(project))
    result.assert_outcomes(passed=3)
    line = f"A1: `{CHECK}` passed before the task started: no evidence"
    result.stdout.fnmatch_lines(["*A1 Write ok*passed [[]no evidence[]]*", f"  {line}"])
    props = properties(xml, "A1")
    assert prop(props, "checks_before") == ["passed"]
    assert prop(props, "evidence") == ["no evidence"]
    assert line in prop(props, "warning")
    report = (project.path / "status" / "roadmap-report.html").read_text(encoding="utf-8")
    assert "passed before the task started: no evidence" in report


def test_failing_check_goes_back_to_the_same_session(project: Project) -> None:
    setup_check(project)
    xml = project.path.parent / "rounds.xml"
    flags = ("--write", "a1.txt=wrong", "--resumed-write", "a1.txt=ok")
    result = project.run(f"--junitxml={xml}", agent=agent(project, *flags))
    result.assert_outcomes(passed=3)
    first, second = project.records("start")
    assert first["resume"] is None
    assert second["resume"] == "fake-session-A1"
    assert f"its check `{CHECK}` exited 1" in second["prompt"]
    assert "A1 check: expected 'ok' in a1.txt, found 'wrong'" in second["prompt"]
    props = properties(xml, "A1")
    assert prop(props, "check_rounds") == ["2"]
    assert prop(props, "checks_after") == ["passed"]
    assert prop(props, "num_turns") == ["4"]  # 2 per fake run, added up
    assert prop(props, "cost_usd") == ["0.0246"]


def test_a_failed_check_round_continues_on_the_next_model(project: Project) -> None:
    setup_check(project)
    project.pytester.makeini("[pytest]\nroadmap_model_escalation =\n    haiku\n    sonnet\n")
    flags = ("--model", "{model}", "--write", "a1.txt=wrong", "--resumed-write", "a1.txt=ok")
    project.run("--roadmap-model", "haiku", agent=agent(project, *flags)).assert_outcomes(passed=3)
    models = [list(r["argv"]) for r in project.records("start")]
    assert [argv[argv.index("--model") + 1] for argv in models] == ["haiku", "sonnet"]
    second = project.records("start")[1]
    assert second["resume"] == "fake-session-A1"


def test_still_failing_after_the_rounds_fails_with_the_output(project: Project) -> None:
    setup_check(project)
    result = project.run(
        "--roadmap-check-attempts", "3", agent=agent(project, "--write", "a1.txt=wrong")
    )
    result.assert_outcomes(failed=1, skipped=2)
    assert len(project.records("start")) == 3
    assert {r["resume"] for r in project.records("start")[1:]} == {"fake-session-A1"}
    result.stdout.fnmatch_lines(
        [
            f"*check failed: `{CHECK}` exited 1*",
            "*A1 check: expected 'ok' in a1.txt, found 'wrong'*",
        ]
    )


def test_a_task_may_not_weaken_its_check(project: Project) -> None:
    setup_check(project)
    original = (project.path / "checks" / "A1.py").read_text(encoding="utf-8")
    xml = project.path.parent / "tamper.xml"
    flags = ("--fresh-write", "checks/A1.py=pass\n", "--resumed-write", "a1.txt=ok")
    result = project.run(f"--junitxml={xml}", agent=agent(project, *flags))
    result.assert_outcomes(passed=3)
    _, second = project.records("start")
    assert second["resume"] == "fake-session-A1"
    assert "A1 changed its check file checks/A1.py: restore it and do the task" in second["prompt"]
    props = properties(xml, "A1")
    assert prop(props, "check_tampered") == ["checks/A1.py"]
    assert (project.path / "checks" / "A1.py").read_text(encoding="utf-8") == original


def test_a_tampered_check_fails_the_last_round_and_is_put_back(project: Project) -> None:
    setup_check(project)
    original = (project.path / "checks" / "A1.py").read_text(encoding="utf-8")
    flags = ("--write", "checks/A1.py=pass\n", "--write", "a1.txt=wrong")
    result = project.run("--roadmap-check-attempts", "1", agent=agent(project, *flags))
    result.assert_outcomes(failed=1, skipped=2)
    result.stdout.fnmatch_lines(["*A1 changed its check file checks/A1.py*"])
    assert (project.path / "checks" / "A1.py").read_text(encoding="utf-8") == original


def test_a_task_may_edit_its_checks_when_allowed(project: Project) -> None:
    setup_check(project)
    flags = ("--write", "checks/A1.py=pass\n")
    result = project.run("-o", "roadmap_task_may_edit_checks=true", agent=agent(project, *flags))
    result.assert_outcomes(passed=3)
    assert len(project.records("start")) == 1


def test_tests_written_by_the_task(project: Project) -> None:
    roadmap = ONE_TASK.replace(f"`{CHECK}`", f"`{PY} checks/new_test.py`")
    project.roadmap(roadmap)
    xml = project.path.parent / "written.xml"
    result = project.run(
        f"--junitxml={xml}", agent=agent(project, "--write", "checks/new_test.py=print(1)")
    )
    result.assert_outcomes(passed=3)
    assert prop(properties(xml, "A1"), "evidence") == ["tests written by the task"]


def test_test_paths_run_through_the_test_command(project: Project) -> None:
    recorder = "import sys, pathlib; pathlib.Path('ran.txt').write_text(' '.join(sys.argv[1:]))"
    (project.path / "record_tests.py").write_text(recorder, encoding="utf-8")
    roadmap = ONE_TASK.replace(f"`{CHECK}`", "tests/test_a1.py::test_ok `true`")
    front = f"---\nroadmap_test_command: {PY} record_tests.py -q {{tests}}\n---\n"
    project.roadmap(front + roadmap)
    result = project.run(agent=agent(project))
    result.assert_outcomes(passed=3)
    assert (project.path / "ran.txt").read_text() == "-q tests/test_a1.py::test_ok"


def test_run_wide_task_checks_with_the_task_id(project: Project) -> None:
    project.roadmap(NO_CHECKS)
    result = project.run(
        "-o",
        f"roadmap_task_checks={PY} -c \"import sys; open('{{task_id}}.checked', 'a').write('x')\"",
        agent=agent(project),
    )
    result.assert_outcomes(passed=3)
    assert (project.path / "A1.checked").read_text() == "xx"  # before and after


def test_no_checks_option(project: Project) -> None:
    setup_check(project)
    result = project.run("--roadmap-no-checks", agent=agent(project, "--write", "a1.txt=wrong"))
    result.assert_outcomes(passed=3)
    [start] = project.records("start")
    assert "Your task is done when" not in start["prompt"]


def test_a_roadmap_without_checks_is_unchanged(project: Project) -> None:
    project.roadmap(NO_CHECKS)
    xml = project.path.parent / "none.xml"
    result = project.run(f"--junitxml={xml}", agent=agent(project))
    result.assert_outcomes(passed=3)
    [start] = project.records("start")
    assert "Your task is done when" not in start["prompt"]
    assert "\n\n\n" not in start["prompt"]
    props = properties(xml, "A1")
    assert prop(props, "checks") == [] and prop(props, "evidence") == []
    assert "[" not in result.stdout.str().split("roadmap summary")[-1].split("run total")[0]


def test_a_check_is_bounded_by_the_task_timeout(project: Project) -> None:
    roadmap = ONE_TASK.replace(f"`{CHECK}`", "`sleep 60`")
    project.roadmap(roadmap)
    result = project.run("--roadmap-task-timeout", "2", "--roadmap-check-attempts", "1")
    result.assert_outcomes(failed=1, skipped=2)
    result.stdout.fnmatch_lines(["*check failed: `sleep 60` timed out after 2s*"])


def test_bad_check_attempts_is_a_usage_error(project: Project) -> None:
    setup_check(project)
    result = project.run("--roadmap-check-attempts", "0")
    result.stderr.fnmatch_lines(
        ["ERROR: invalid check attempts '0' from *: give a positive number"]
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_checks_in_worktree_isolation_run_in_the_worktree(project: Project) -> None:
    setup_check(project)
    result = project.run(
        "--roadmap-isolation",
        "worktree",
        "--roadmap-no-commit",
        agent=agent(project, "--write", "a1.txt=ok"),
    )
    result.assert_outcomes(passed=2, skipped=1)
    [start] = project.records("start")
    assert start["cwd"] != str(project.path)
    assert (project.path / "a1.txt").read_text() == "ok"  # merged by the gate


# -- the group's gate in each task's worktree ------------------------------------------------


def test_the_gate_runs_in_the_task_worktree_and_goes_back_to_its_session(
    project: Project,
) -> None:
    project.roadmap(NO_CHECKS)
    (project.path / "checks").mkdir()
    (project.path / "checks" / "A1.py").write_text(CHECK_SCRIPT, encoding="utf-8")
    git(project.path, "add", "-A")
    git(project.path, "commit", "-q", "-m", "gate script")
    xml = project.path.parent / "task-gate.xml"
    flags = ("--write", "a1.txt=wrong", "--resumed-write", "a1.txt=ok")
    result = project.run(
        "--roadmap-isolation",
        "worktree",
        "--roadmap-gate",
        CHECK,
        "--roadmap-no-commit",
        f"--junitxml={xml}",
        agent=agent(project, *flags),
    )
    result.assert_outcomes(passed=2, skipped=1)
    first, second = project.records("start")
    assert first["cwd"] != str(project.path) and second["cwd"] == first["cwd"]
    assert second["resume"] == "fake-session-A1"
    assert f"the group's gate command `{CHECK}` exited 1" in second["prompt"]
    assert "A1 check: expected 'ok' in a1.txt, found 'wrong'" in second["prompt"]
    props = properties(xml, "A1")
    assert prop(props, "task_gate") == [CHECK]
    assert prop(props, "task_gate_after") == ["passed"]
    assert prop(props, "check_rounds") == ["2"]
    assert (project.path / "a1.txt").read_text() == "ok"


def test_task_gate_none_leaves_the_gate_to_the_group(project: Project) -> None:
    project.roadmap(NO_CHECKS)
    (project.path / "checks").mkdir()
    (project.path / "checks" / "A1.py").write_text(CHECK_SCRIPT, encoding="utf-8")
    git(project.path, "add", "-A")
    git(project.path, "commit", "-q", "-m", "gate script")
    result = project.run(
        "--roadmap-isolation",
        "worktree",
        "--roadmap-gate",
        CHECK,
        "--roadmap-fix-attempts",
        "0",
        "-o",
        "roadmap_task_gate=none",
        agent=agent(project, "--write", "a1.txt=wrong"),
    )
    result.assert_outcomes(passed=1, failed=1, skipped=1)
    assert len(project.records("start")) == 1
    result.stdout.fnmatch_lines(["*Phase 1 Group A gate failed*"])


# -- the culprit of a merged gate ------------------------------------------------------------

FOUR = """\
# Culprit

## Phase 1: Work

### Group A: Four
- **A1: One** - write a1.txt
- **A2: Two** - write a2.txt
- **A3: Three** - write a3.txt
- **A4: Four** - write a4.txt
"""


def test_bisect_names_the_third_of_four_and_sends_the_failure_only_to_it(
    project: Project,
) -> None:
    project.roadmap(FOUR)
    gate = "! grep -q bad a3.txt"
    plan = {
        "A1": ["--write", "a1.txt"],
        "A2": ["--write", "a2.txt"],
        "A3": ["--write", "a3.txt=bad", "--resumed-write", "a3.txt=good"],
        "A4": ["--write", "a4.txt"],
    }
    xml = project.path.parent / "culprit.xml"
    result = project.run(
        "--roadmap-isolation",
        "worktree",
        "--roadmap-gate",
        gate,
        "-o",
        "roadmap_task_gate=none",
        "--roadmap-no-commit",
        f"--junitxml={xml}",
        agent=agent(project),
        plan=plan,
    )
    result.assert_outcomes(passed=5, skipped=1)
    result.stdout.fnmatch_lines([f"*gate failed: `{gate}` first fails after merging A3*"])
    starts = project.records("start")
    assert [r["task"] for r in starts[:4]] == ["A1", "A2", "A3", "A4"]
    [fix] = starts[4:]
    assert fix["task"] == "A3" and fix["resume"] == "fake-session-A3"
    assert fix["cwd"] == str(project.path)
    assert f"the group's gate now fails: `{gate}` exited with code 1" in fix["prompt"]
    assert [r for r in starts if r["resume"] and r["task"] != "A3"] == []
    props = properties(xml, "gate")
    assert prop(props, "culprit") == ["A3"]
    assert "bisect: 3 run(s) of '! grep -q bad a3.txt' over 4 merges" in prop(props, "note")
    assert (project.path / "a3.txt").read_text() == "good"
    report = (project.path / "status" / "roadmap-report.html").read_text(encoding="utf-8")
    assert "passed: culprit: A3" in report
    assert not list(project.path.parent.glob(f"{project.path.name}.roadmap-worktrees/*bisect*"))


def test_the_backstop_of_a_task_with_checks_allows_every_round() -> None:
    from pytest_roadmap.items import task_backstop
    from pytest_roadmap.settings import Settings

    settings = Settings(task_timeout=100.0, retries=0, limit_wait=0.0, check_attempts=3)
    assert task_backstop(settings) == 100.0 + 60.0
    # 3 rounds of the agent, 2 checks run before and after each round
    assert task_backstop(settings, checks=2) == 3 * 100.0 + 2 * 4 * 100.0 + 60.0


def test_in_the_shared_tree_the_repair_agent_is_told_the_suspects(project: Project) -> None:
    project.roadmap(FOUR)
    gate = "! grep -l bad a1.txt a2.txt a3.txt a4.txt"
    plan = {
        "A1": ["--write", "a1.txt"],
        "A2": ["--write", "a2.txt"],
        "A3": ["--write", "a3.txt=bad"],
        "A4": ["--write", "a4.txt"],
        "fix1": ["--write", "a3.txt=good"],
    }
    xml = project.path.parent / "suspects.xml"
    result = project.run(
        "--roadmap-gate", gate, "--roadmap-no-commit", f"--junitxml={xml}", plan=plan
    )
    result.assert_outcomes(passed=5, skipped=1)
    [fix] = [r for r in project.records("start") if r["task"] == "fix1"]
    assert "Suspects: A3: the failing output names files these tasks changed" in fix["prompt"]
    assert "suspects: A3" in prop(properties(xml, "gate"), "note")


def test_no_culprit_when_the_gate_fails_before_the_merges_too(project: Project) -> None:
    project.roadmap(FOUR)
    xml = project.path.parent / "no-culprit.xml"
    result = project.run(
        "--roadmap-isolation",
        "worktree",
        "--roadmap-gate",
        "false",
        "--roadmap-fix-attempts",
        "0",
        "-o",
        "roadmap_task_gate=none",
        f"--junitxml={xml}",
        agent=agent(project),
        plan={task: ["--write", f"{task.lower()}.txt"] for task in ("A1", "A2", "A3", "A4")},
    )
    result.assert_outcomes(passed=4, failed=1, skipped=1)
    props = properties(xml, "gate")
    assert prop(props, "culprit") == []
    assert "bisect: 1 run(s) of 'false' over 4 merges: it fails before the merges too" in prop(
        props, "note"
    )
    assert [r for r in project.records("start") if r["resume"]] == []
