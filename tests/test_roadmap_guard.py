"""The roadmap is the user's (issue 27): an agent's edit is put back, its tick never counts;
a gate with no commands says that it checked nothing."""

from __future__ import annotations

import json
import shlex
import signal
import sys
from pathlib import Path

from pytest_roadmap.agents.claude import claude_argv
from pytest_roadmap.agents.prompt import DEFAULT_TEMPLATE
from pytest_roadmap.agents.prompt import REPAIR_TEMPLATE
from pytest_roadmap.control.roadmap_guard import RoadmapGuard
from pytest_roadmap.control.roadmap_guard import describe_change
from pytest_roadmap.settings import Settings

from .conftest import Project
from .conftest import git
from .test_reliability import INTERRUPTED_EXIT
from .test_reliability import Running
from .test_reliability import wait_for

BOXES = """\
# Boxes

## Phase 1: First

### Group A: Start
- [ ] **A1: Start** - write a1.txt

## Phase 2: Second

### Group B: Next
- [ ] **B1: Next** - write b1.txt
"""

TICK = "ROADMAP.md|- [ ] **B1: Next**|- [x] **B1: Next**"
EDIT = "ROADMAP.md|write a1.txt|write a1.txt, and tidy up"


def test_an_agents_tick_is_put_back_kept_and_never_counts(project: Project) -> None:
    """A1's agent ticks B1 and edits its own line: put back before the phase commit,
    its version kept and named; the next run still runs B1."""
    project.roadmap(BOXES)
    original = (project.path / "ROADMAP.md").read_bytes()
    result = project.run(
        "--roadmap-phases",
        "1",
        plan={"A1": ["--write", "a1.txt", "--replace", TICK, "--replace", EDIT]},
    )
    result.assert_outcomes(passed=3, skipped=3)
    line = (
        "A1's agent changed ROADMAP.md (marked B1 done and changed 1 more line): put back; "
        "its version is in status/ROADMAP.from-A1.md"
    )
    result.stdout.fnmatch_lines([f"*{line}", f"*[[]roadmap[]] warning: {line}"])
    assert (project.path / "ROADMAP.md").read_bytes() == original
    kept = (project.path / "status" / "ROADMAP.from-A1.md").read_text(encoding="utf-8")
    assert "- [x] **B1: Next**" in kept and "tidy up" in kept
    assert git(project.path, "show", "HEAD:ROADMAP.md").encode() == original
    assert "a1.txt" in git(project.path, "show", "--name-only", "HEAD")

    again = project.run(plan={"B1": ["--write", "b1.txt"]})
    again.assert_outcomes(passed=3, skipped=3)  # phase 1: complete
    assert [r["task"] for r in project.records("start")] == ["A1", "B1"]
    assert (project.path / "b1.txt").exists()


def test_edits_of_several_running_agents_are_named_by_all_of_them(project: Project) -> None:
    project.roadmap("## Phase 1: P\n\n### Group A: G\n- **A1: One** - one\n- **A2: Two** - two\n")
    meet = str(project.path.parent / f"{project.path.name}-meet")
    plan = {
        "A1": ["--meet", meet, "--replace", "ROADMAP.md|- **A2: Two**|- **A2: Two** ✅"],
        "A2": ["--meet", meet, "--sleep", "1"],
    }
    result = project.run("-n", "2", "--roadmap-no-commit", plan=plan)
    result.assert_outcomes(passed=3, skipped=1)
    result.stdout.fnmatch_lines(
        ["*one of the agents of A1, A2 changed ROADMAP.md (marked A2 done): put back; "
         "its version is in status/ROADMAP.from-A1-A2.md"]
    )  # fmt: skip
    assert "✅" not in (project.path / "ROADMAP.md").read_text(encoding="utf-8")


def test_user_edits_between_runs_stay(project: Project) -> None:
    """The roadmap as the run finds it is the user's: a box ticked before the run is done."""
    project.roadmap(BOXES.replace("- [ ] **A1", "- [x] **A1"))
    result = project.run("--roadmap-phases", "1", "--roadmap-no-commit")
    result.assert_outcomes(skipped=6)
    assert project.records("start") == []
    assert "- [x] **A1" in (project.path / "ROADMAP.md").read_text(encoding="utf-8")
    assert not (project.path / "status" / "ROADMAP.from-A1.md").exists()


def test_a_deleted_roadmap_is_put_back(tmp_path: Path) -> None:
    roadmap = tmp_path / "ROADMAP.md"
    roadmap.write_text(BOXES, encoding="utf-8")
    guard = RoadmapGuard(roadmap, tmp_path / "status", tmp_path)
    assert guard.check(["A1"], "A1's agent") is None
    roadmap.unlink()
    line = guard.check(["A1"], "A1's agent")
    assert line == "A1's agent changed ROADMAP.md (deleted it): put back; it was deleted"
    assert roadmap.read_text(encoding="utf-8") == BOXES


def test_describe_change() -> None:
    before = BOXES.encode()
    ticked = BOXES.replace("- [ ] **B1", "- [x] **B1").encode()
    assert describe_change(before, ticked, "ROADMAP.md") == "marked B1 done"
    assert describe_change(before, before + b"more\n", "ROADMAP.md") == "changed 1 line"
    assert describe_change(before, before.replace(b"\n", b"\r\n"), "R.md") == "changed its bytes"
    assert describe_change(before, before + b" ", "R.md") == "changed 1 line"
    assert describe_change(before, None, "R.md") == "deleted it"


def test_claude_may_not_edit_the_roadmap_or_the_status_files(tmp_path: Path) -> None:
    settings = Settings(
        roadmap=tmp_path / "docs" / "ROADMAP.md", project_dir=tmp_path, status_dir=tmp_path / "st"
    )
    assert denied_by(settings)[:6] == [
        "Edit(./docs/ROADMAP.md)",
        "Write(./docs/ROADMAP.md)",
        "Edit(./st/**)",
        "Write(./st/**)",
        "Edit(./PHASE*-GROUP-*-STATUS.md)",
        "Write(./PHASE*-GROUP-*-STATUS.md)",
    ]
    outside = Settings(roadmap=tmp_path / "R.md", project_dir=tmp_path / "p", status_dir=tmp_path)
    assert denied_by(outside)[:2] == [
        "Edit(./PHASE*-GROUP-*-STATUS.md)",
        "Write(./PHASE*-GROUP-*-STATUS.md)",
    ]


def denied_by(settings: Settings) -> list[str]:
    """The deny rules of the one ``--settings`` on Claude Code's command line."""
    argv = claude_argv(settings)
    assert argv.count("--settings") == 1, argv
    rules = json.loads(argv[argv.index("--settings") + 1])["permissions"]["deny"]
    assert isinstance(rules, list)
    return rules


def test_the_prompts_say_the_roadmap_and_status_files_are_the_orchestrators() -> None:
    assert "Do not edit {roadmap_path} or the status files" in DEFAULT_TEMPLATE
    assert "Do not edit the roadmap or the status files" in REPAIR_TEMPLATE.replace("\\\n", "")


def test_a_project_without_gate_commands_is_told_its_groups_are_unchecked(
    project: Project,
) -> None:
    project.roadmap(BOXES)
    result = project.run("-o", "roadmap_report=report.html")
    result.assert_outcomes(passed=6)
    start = "no gate commands (no package.json and roadmap_gates is unset): groups are not checked"
    assert result.stdout.str().count(start) == 1
    result.stdout.fnmatch_lines(
        [
            f"*{start}",
            "*Phase 1 Group A gate passed: nothing to check; group complete, unchecked",
            "*Phase 2 Group B gate passed: nothing to check; group complete, unchecked",
        ]
    )
    assert "group complete\n" not in result.stdout.str()
    result.stdout.fnmatch_lines(
        ["Phase 1 · Group A  gate * passed: nothing to check (unchecked)*",
         "*Group A total: tasks 1 passed*", "*Group A unchecked: no gate commands"]
    )  # fmt: skip
    page = (project.path / "report.html").read_text(encoding="utf-8")
    assert "<h2>Marks</h2>" in page
    assert page.count("unchecked: nothing to check, no gate commands") == 2


def test_package_json_without_scripts_and_the_no_gates_option_say_it_once(
    project: Project,
) -> None:
    project.roadmap(BOXES)
    (project.path / "package.json").write_text('{"scripts": {"start": "node ."}}')
    git(project.path, "add", "package.json")
    git(project.path, "commit", "-q", "-m", "package")
    result = project.run("--roadmap-phases", "1", "--roadmap-no-commit")
    line = (
        "no gate commands (package.json has no typecheck/lint/test/build scripts and "
        "roadmap_gates is unset): groups are not checked"
    )
    assert result.stdout.str().count(line) == 1
    no_gates = project.run("--roadmap-phases", "1", "--roadmap-redo", "--roadmap-no-gates")
    said = "no gate commands (--roadmap-no-gates: the gates are turned off): groups are not checked"
    assert no_gates.stdout.str().count(said) == 1
    no_gates.stdout.fnmatch_lines(["*Phase 1 Group A gate passed: nothing to check*"])


def test_a_repair_agents_edit_is_put_back_before_the_phase_commit(project: Project) -> None:
    project.roadmap(BOXES)
    original = (project.path / "ROADMAP.md").read_bytes()
    plan = {"fix1": ["--write", "fixed.txt", "--replace", TICK]}
    result = project.run("--roadmap-phases", "1", "--roadmap-gate", "test -f fixed.txt", plan=plan)
    result.assert_outcomes(passed=3, skipped=3)
    result.stdout.fnmatch_lines(
        ["*an agent of the Phase 1 Group A gate changed ROADMAP.md (marked B1 done): put back; "
         "its version is in status/ROADMAP.from-gate-1A.md"]
    )  # fmt: skip
    assert git(project.path, "show", "HEAD:ROADMAP.md").encode() == original
    assert "fixed.txt" in git(project.path, "show", "--name-only", "HEAD")


EDIT_THEN_WAIT = """\
import pathlib, sys, time
sys.stdin.read()
roadmap = pathlib.Path("ROADMAP.md")
roadmap.write_text(roadmap.read_text().replace("- [ ] **B1", "- [x] **B1"))
pathlib.Path(sys.argv[1]).write_text("edited")
time.sleep(60)
"""


def test_ctrl_c_puts_the_roadmap_back(project: Project) -> None:
    project.roadmap(BOXES)
    original = (project.path / "ROADMAP.md").read_bytes()
    script = project.path.parent / f"{project.path.name}-edit-then-wait.py"
    script.write_text(EDIT_THEN_WAIT, encoding="utf-8")
    edited = project.path.parent / f"{project.path.name}-edited"
    agent = shlex.join([sys.executable, str(script), str(edited)])
    run = Running(project, "--roadmap-no-commit", agent=agent)
    try:
        wait_for("the agent's edit", edited.exists)
        assert (project.path / "ROADMAP.md").read_bytes() != original
        run.signal(signal.SIGINT)
        assert run.wait() == INTERRUPTED_EXIT
    finally:
        run.kill()
    assert (project.path / "ROADMAP.md").read_bytes() == original
    assert "A1's agent changed ROADMAP.md (marked B1 done): put back" in run.output()
