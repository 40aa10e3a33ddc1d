"""Git: each phase's commit and push, resume from the history, isolated worktrees.

Every test runs ``pytest --roadmap`` in a subprocess on a real temporary repository; the
push tests push to a bare repository next to it (``git init --bare``).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from pytest_roadmap.model.roadmap import parse_roadmap
from pytest_roadmap.text import REASON_MAX
from pytest_roadmap.workspace.git import WorkspaceError
from pytest_roadmap.workspace.git import fold
from pytest_roadmap.workspace.git import run_git
from pytest_roadmap.workspace.history import HistoryCommit
from pytest_roadmap.workspace.history import completed_in_history
from pytest_roadmap.workspace.history import groups_of_commit

from .conftest import TWO_GROUPS
from .conftest import Project
from .conftest import git

TIMEOUT = 120
ONE_PHASE = """\
## Phase 1: Foundation

### Group A: Base
- **A1: First** - write a1.txt
- **A2: Second** - write a2.txt
"""
THREE_TASKS = """\
## Phase 1: Parallel

### Group A: Three at once
- **A1: One** - one
- **A2: Two** - two
- **A3: Three** - three

### Group B: After
- **B1: Four** - four
"""
#: An agent that writes <task>.txt at once, then sleeps: interrupted, its work is on disk.
WRITE_THEN_SLEEP = """\
import os, sys, time
task = os.environ["ROADMAP_TASK_ID"]
sys.stdin.read()
with open(task + ".txt", "w") as f:
    f.write("work of " + task + "\\n")
open(sys.argv[1] + "." + task, "w").close()
time.sleep(float(sys.argv[2]))
"""
#: An agent that rewrites one line of lines.txt (line 1 for A1, line 9 for A2).
EDIT_LINE = """\
import os, sys
task = os.environ["ROADMAP_TASK_ID"]
sys.stdin.read()
lines = open("lines.txt").read().splitlines()
index = 0 if task == "A1" else 8
lines[index] = "changed by " + task
open("lines.txt", "w").write("\\n".join(lines) + "\\n")
"""
#: An agent that notes whether node_modules is a link to the main tree's, then writes a file.
NODE_CHECK = """\
import os, sys
task = os.environ["ROADMAP_TASK_ID"]
sys.stdin.read()
link = os.path.islink("node_modules") and os.path.exists("node_modules/marker.js")
with open(sys.argv[1] + "." + task, "w") as f:
    f.write(f"{os.getcwd()} {link}")
open(task + ".txt", "w").write(task)
"""


def run(
    project: Project,
    *args: str,
    agent: str | None = None,
    plan: dict[str, list[str]] | None = None,
    push: bool = True,
    timeout: float = TIMEOUT,
) -> pytest.RunResult:
    """Like ``project.run``, but it pushes unless ``push`` is False."""
    return project.run(*args, agent=agent, plan=plan, timeout=timeout, push=push)


def with_remote(project: Project, text: str = TWO_GROUPS) -> Path:
    """Commit the roadmap, make a bare remote next to the project, push -u origin main."""
    project.roadmap(text)
    remote = project.path.parent / f"{project.path.name}-remote.git"
    git(project.path.parent, "init", "-q", "--bare", "-b", "main", str(remote))
    git(project.path, "remote", "add", "origin", str(remote))
    git(project.path, "push", "-q", "-u", "origin", "main")
    return remote


def subjects(repo: Path, ref: str = "HEAD") -> list[str]:
    return git(repo, "log", "--format=%s", ref).splitlines()


def started(project: Project) -> list[str]:
    return [r["task"] for r in project.records("start")]


def script(project: Project, name: str, text: str) -> Path:
    """A helper agent script next to the project (never inside its tree)."""
    path = project.path.parent / f"{project.path.name}-{name}.py"
    path.write_text(text, encoding="utf-8")
    return path


def worktrees_root(project: Project) -> Path:
    return project.path.parent / f"{project.path.name}.roadmap-worktrees"


def branches(project: Project) -> list[str]:
    return git(project.path, "branch", "--format=%(refname:short)").split()


# -- the phase commit and its push ---------------------------------------------------


def test_two_phases_push_two_commits(project: Project) -> None:
    remote = with_remote(project)
    (project.path / ".gitignore").write_text("secret.txt\n")
    git(project.path, "add", ".gitignore")
    git(project.path, "commit", "-qm", "ignore secret.txt")
    (project.path / "report.xml").write_text("<stale report of an earlier run/>")
    agent = project.agent("--write", "work.txt", "--write", "secret.txt")
    result = run(project, "--junitxml=report.xml", agent=agent)
    result.assert_outcomes(passed=9)
    assert subjects(remote, "main")[:2] == [
        "Complete Phase 2: More",
        "Complete Phase 1: Foundation",
    ]
    body = git(remote, "log", "-1", "--skip=1", "--format=%B", "main")
    assert "Group A: Base\n- A1: First task (done)\n- A2: Second task (done)\n" in body
    trailers = git(remote, "log", "-1", "--skip=1", "--format=%(trailers)", "main")
    assert trailers.split() == ["Roadmap-Phase:", "1", "Roadmap-Groups:", "A,B"]
    tracked = git(remote, "ls-tree", "-r", "--name-only", "main").splitlines()
    assert "work.txt" in tracked
    assert "status/completed_tasks.txt" in tracked and "PHASE1-GROUP-A-STATUS.md" in tracked
    assert not [p for p in tracked if p.startswith("logs/")]
    assert "report.xml" not in tracked and "secret.txt" not in tracked
    assert git(project.path, "rev-parse", "HEAD") == git(remote, "rev-parse", "main")


def test_no_upstream_is_a_note_not_a_failure(project: Project) -> None:
    project.roadmap(ONE_PHASE)
    xml = project.path.parent / f"{project.path.name}-junit.xml"
    result = run(project, f"--junitxml={xml}")
    result.assert_outcomes(passed=4)
    assert "branch main has no upstream: not pushed" in xml.read_text()
    assert subjects(project.path)[0] == "Complete Phase 1: Foundation"


def test_rejected_push_keeps_the_commit_and_a_rerun_pushes_it(project: Project) -> None:
    remote = with_remote(project, ONE_PHASE)
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\nexit 1\n")
    hook.chmod(0o755)

    first = run(project)
    first.assert_outcomes(passed=3, failed=1)
    first.stdout.fnmatch_lines(
        [
            "*git push to origin failed after 3 tries: *[[]remote rejected]*main*; the commit is "
            "kept locally; push it with: git push origin main*"
        ]
    )
    assert subjects(project.path)[0] == "Complete Phase 1: Foundation"
    assert "Complete Phase 1: Foundation" not in subjects(remote, "main")

    hook.unlink()
    second = run(project, "-rs")
    second.assert_outcomes(passed=1, skipped=3)  # only the commit item: it pushes
    assert started(project) == ["A1", "A2"]
    assert subjects(remote, "main")[:2] == ["Complete Phase 1: Foundation", "add roadmap"]

    third = run(project, "-rs")
    third.assert_outcomes(skipped=4)
    third.stdout.fnmatch_lines(["*already complete: every group of the phase is complete*"])


def test_rerun_pushes_every_unpushed_phase_once(project: Project) -> None:
    remote = with_remote(project)
    run(project, push=False).assert_outcomes(passed=9)
    result = run(project, "-rs", "-n", "2")
    result.assert_outcomes(passed=1, skipped=8)
    result.stdout.fnmatch_lines(
        ["*ROADMAP.md:*: already complete: every group of the phase is complete; nothing to push"]
    )
    assert subjects(remote, "main")[:2] == [
        "Complete Phase 2: More",
        "Complete Phase 1: Foundation",
    ]
    assert started(project) == ["A1", "A2", "B1", "C1"]


# -- resume from the history -----------------------------------------------------------


def test_resume_from_history_without_status_files(project: Project) -> None:
    project.roadmap()
    run(project, push=False).assert_outcomes(passed=9)
    phase1 = git(project.path, "log", "-1", "--skip=1", "--format=%h").strip()
    phase2 = git(project.path, "log", "-1", "--format=%h").strip()
    subprocess.run(
        "rm -rf status/ PHASE*-STATUS.md", shell=True, cwd=project.path, check=True, timeout=30
    )
    result = run(project, "-rs", push=False)
    result.assert_outcomes(skipped=9)
    result.stdout.fnmatch_lines_random(
        [
            f"SKIPPED [[]1] ROADMAP.md:6: already complete: commit {phase1} "
            "'Complete Phase 1: Foundation'",
            f"SKIPPED [[]1] ROADMAP.md:15: already complete: commit {phase2} "
            "'Complete Phase 2: More'",
        ]
    )
    assert started(project) == ["A1", "A2", "B1", "C1"]
    redo = run(project, "--roadmap-redo", "--roadmap-no-commit", push=False)
    redo.assert_outcomes(passed=7, skipped=2)
    assert started(project) == ["A1", "A2", "B1", "C1"] * 2


def test_status_files_name_the_source_before_history(project: Project) -> None:
    project.roadmap()
    run(project, push=False).assert_outcomes(passed=9)
    result = run(project, "-rs", push=False)
    result.assert_outcomes(skipped=9)
    result.stdout.fnmatch_lines(
        ["SKIPPED [[]1] ROADMAP.md:6: already complete: status/completed_tasks.txt"]
    )


def test_bash_style_subjects_complete_groups(project: Project) -> None:
    project.roadmap(
        "## Phase 1: P\n### Group A: a\n- **A1: x** - x\n### Group B: b\n- **B1: x** - x\n"
        "### Group C: c\n- **C1: x** - x\n### Group D: d\n- **D1: x** - x\n"
    )
    for subject in ("Phase 1 Group A: database", "Phase 1 Groups B & C"):
        git(project.path, "commit", "-q", "--allow-empty", "-m", subject)
    result = run(project, "-rs", "--roadmap-no-commit", push=False)
    result.assert_outcomes(passed=2, skipped=7)
    result.stdout.fnmatch_lines_random(
        [
            "SKIPPED [[]1] ROADMAP.md:3: already complete: commit * 'Phase 1 Group A: database'",
            "SKIPPED [[]1] ROADMAP.md:7: already complete: commit * 'Phase 1 Groups B & C'",
        ]
    )
    assert started(project) == ["D1"]


def test_rolling_back_a_phase_runs_it_again(project: Project) -> None:
    """The bash script's recipe: delete the group's line, git reset --hard HEAD~1."""
    project.roadmap()
    run(project, push=False, agent=project.agent("--write", "work.txt")).assert_outcomes(passed=9)
    completed = project.path / "status" / "completed_tasks.txt"
    completed.write_text(completed.read_text().replace("PHASE_2:C\n", ""))
    git(project.path, "reset", "-q", "--hard", "HEAD~1")
    assert not (project.path / "PHASE2-GROUP-C-STATUS.md").exists()
    result = run(project, "-rs", push=False)
    result.assert_outcomes(passed=3, skipped=6)
    assert started(project) == ["A1", "A2", "B1", "C1", "C1"]
    assert subjects(project.path)[:2] == ["Complete Phase 2: More", "Complete Phase 1: Foundation"]


# -- the history parser ------------------------------------------------------------------

PHASES = parse_roadmap(
    "## Phase 1: F\n"
    + "".join(f"### Group {g}: {g}\n- **{g}1: x** - y\n" for g in "ABCD")
    + "## Phase 2: G\n### Group E: e\n- **E1: x** - y\n"
)


@pytest.mark.parametrize(
    ("subject", "groups"),
    [
        ("Complete Phase 1: Foundation", "ABCD"),
        ("Complete Phase 1", "ABCD"),
        ("Phase 1 Group A", "A"),
        ("Phase 1 Group B: Auth", "B"),
        ("Phase 1 Groups B & C", "BC"),
        ("Phase 1 Groups B, C and D", "BCD"),
        ("Phase 1 Groups B, C, and D complete", "BCD"),
        ("Complete Phase 1 Group C", "C"),
        ("Phase 1 Group A Task A1: Schema", ""),
        ("WIP Phase 1 Group A Task A1 (interrupted): Schema", ""),
        ("Phase 1 Group A WIP", ""),
        ("Merge branch 'roadmap/phase1/groupA/A1' into main", ""),
        ("Complete Phase 3: not in the roadmap", ""),
        ("Phase 1 Group Z", ""),
        ("Fix Phase 1 Group A tests", ""),
    ],
)
def test_subjects(subject: str, groups: str) -> None:
    found = groups_of_commit(HistoryCommit("abc1234", subject), PHASES)
    assert found == [f"PHASE_1:{g}" for g in groups]


def test_trailers_win_over_the_subject() -> None:
    commit = HistoryCommit("abc1234", "Complete Phase 1: F", "1", "A,B")
    assert groups_of_commit(commit, PHASES) == ["PHASE_1:A", "PHASE_1:B"]


def test_history_ignores_reverted_commits_and_names_the_newest(tmp_path: Path) -> None:
    assert completed_in_history(tmp_path, PHASES) == {}  # not a repository
    git(tmp_path, "init", "-q", "-b", "main")
    assert completed_in_history(tmp_path, PHASES) == {}  # no commit yet
    for subject in (
        "Phase 1 Group A",
        "Phase 1 Group A: again",
        "Complete Phase 1: F",
        'Revert "Complete Phase 1: F"',
        "Phase 2 Group E",
    ):
        git(
            tmp_path,
            "-c",
            "user.name=a",
            "-c",
            "user.email=a@a",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            subject,
        )
    found = completed_in_history(tmp_path, PHASES)
    assert sorted(found) == ["PHASE_1:A", "PHASE_2:E"]
    assert found["PHASE_1:A"].endswith(" 'Phase 1 Group A: again'")
    assert found["PHASE_1:A"].startswith("commit ")


# -- worktree isolation ----------------------------------------------------------------


def test_worktrees_three_parallel_agents(project: Project) -> None:
    project.roadmap(THREE_TASKS)
    plan = {task: ["--write", f"{task.lower()}.txt"] for task in ("A1", "A2", "A3", "B1")}
    agent = project.agent("--sleep", "2")
    result = run(project, "-n", "3", "--roadmap-isolation", "worktree", agent=agent, plan=plan)
    result.assert_outcomes(passed=7)
    tracked = git(project.path, "ls-files").splitlines()
    assert {"a1.txt", "a2.txt", "a3.txt", "b1.txt"} <= set(tracked)
    root = worktrees_root(project)
    cwds = {r["task"]: r["cwd"] for r in project.records("start")}
    assert cwds["A2"] == str(root.resolve() / "phase1-groupA-A2")
    starts = [r["start"] for r in project.records("start") if r["task"].startswith("A")]
    ends = [r["end"] for r in project.records("end") if r["task"].startswith("A")]
    assert max(starts) < min(ends), "group A's three agents did not run at the same time"
    assert not root.exists() and branches(project) == ["main"]
    log = subjects(project.path)
    assert log[0] == "Complete Phase 1: Parallel"
    assert "Merge branch 'roadmap/phase1/groupA/A3' into main" in log
    assert "Phase 1 Group A Task A1: One" in log
    assert not git(project.path, "status", "--porcelain", "--untracked-files=no").strip()


def test_worktree_conflict_keeps_both_branches(project: Project) -> None:
    project.roadmap(ONE_PHASE)
    plan = {
        "A1": ["--write", "shared.txt=from A1\n"],
        "A2": ["--write", "shared.txt=from A2\n"],
    }
    no_repair = ("--roadmap-fix-attempts", "0")
    result = run(project, "-n", "2", "--roadmap-isolation", "worktree", *no_repair, plan=plan)
    result.assert_outcomes(passed=2, failed=1, skipped=1)
    a1, a2 = "roadmap/phase1/groupA/A1", "roadmap/phase1/groupA/A2"
    result.stdout.fnmatch_lines(
        [
            f"*Phase 1 Group A gate failed: merging {a2} into main conflicts in shared.txt",
            "conflicting files: shared.txt",
            f"branches involved: {a2} (being merged), {a1} (merged before it)",
            "the merge was aborted: *every task branch and worktree of the group is kept",
            f"inspect: git diff main {a2}*",
            f"resume: git merge {a2}*",
        ]
    )
    assert git(project.path, "show", f"{a1}:shared.txt") == "from A1\n"
    assert git(project.path, "show", f"{a2}:shared.txt") == "from A2\n"
    assert (project.path / "shared.txt").read_text() == "from A1\n"
    assert not (project.path / ".git" / "MERGE_HEAD").exists()
    assert not git(project.path, "diff", "--name-only", "--diff-filter=U").strip()
    assert (worktrees_root(project) / "phase1-groupA-A2" / "shared.txt").exists()

    # resolve by hand as the message says, then run again: no agent runs again
    merge = subprocess.run(
        ["git", "merge", a2], cwd=project.path, capture_output=True, timeout=60, text=True
    )
    assert merge.returncode != 0
    (project.path / "shared.txt").write_text("from A1 and A2\n")
    git(project.path, "commit", "-qam", "resolve")
    second = run(project, "-rs", "--roadmap-isolation", "worktree", plan=plan)
    second.assert_outcomes(passed=2, skipped=2)
    assert started(project) == ["A1", "A2"] or sorted(started(project)) == ["A1", "A2"]
    assert subjects(project.path)[0] == "Complete Phase 1: Foundation"
    assert not worktrees_root(project).exists() and branches(project) == ["main"]


#: A1 and A2 both write shared.txt: merging A2 after A1 conflicts
CONFLICTING = {
    "A1": ["--write", "shared.txt=from A1\n"],
    "A2": ["--write", "shared.txt=from A2\n"],
}
A2_BRANCH = "roadmap/phase1/groupA/A2"


def test_worktree_conflict_resolved_by_the_repair_agent(project: Project) -> None:
    project.roadmap(ONE_PHASE)
    xml = project.path.parent / f"{project.path.name}-junit.xml"
    plan = {**CONFLICTING, "fix1": ["--resolve-conflicts"]}
    gate = "grep -q 'from A2' shared.txt"
    args = ("-n", "2", "--roadmap-isolation", "worktree", "--roadmap-gate", gate)
    no_task_gate = ("-o", "roadmap_task_gate=none")  # the group's gate only, after merging
    result = run(project, *args, *no_task_gate, f"--junitxml={xml}", plan=plan)
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "*gate: warning: *A1 and A2 changed shared.txt (the conflicts of A2 resolved by a "
            "repair agent: check the result)"
        ]
    )
    assert sorted(started(project)) == ["A1", "A2", "fix1"]
    fix = project.records("start")[-1]
    assert fix["task"] == "fix1" and Path(fix["cwd"]) == project.path
    assert fix["prompt"].startswith("Resolve a merge conflict in Phase 1, Group A: Base\n")
    assert f"Merging the branch `{A2_BRANCH}` (Task A2: Second) conflicts" in fix["prompt"]
    assert "Files in conflict:\n- shared.txt\n" in fix["prompt"]
    assert "- A1: First\n- A2: Second" in fix["prompt"]
    assert f"- {gate}" in fix["prompt"]
    assert (project.path / "shared.txt").read_text() == "from A1\nfrom A2\n"
    merge = git(project.path, "log", "--merges", "--format=%H %P", "-1", f"--grep={A2_BRANCH}")
    assert len(merge.split()) == 3  # the merge commit and its two parents
    message = git(project.path, "log", "-1", "--format=%B", merge.split()[0])
    assert message == f"Merge branch '{A2_BRANCH}' into main\n\nTask A2: Second\n\n"
    report = xml.read_text()
    assert '<property name="fix_attempts" value="1"' in report
    assert (
        f'<property name="fix_1_for" value="merge conflict: {A2_BRANCH} into main: shared.txt"'
        in report
    )
    assert '<property name="fix_1_outcome" value="ok"' in report
    assert [name for name in project.logs() if name.startswith("phase1_groupA_fix1_")]
    assert not worktrees_root(project).exists() and branches(project) == ["main"]


def test_worktree_conflict_the_repair_agent_cannot_resolve(project: Project) -> None:
    project.roadmap(ONE_PHASE)
    args = ("--roadmap-isolation", "worktree", "--roadmap-fix-attempts", "2")
    result = run(project, *args, plan=CONFLICTING)  # the repair agents change nothing
    result.assert_outcomes(passed=2, failed=1, skipped=1)
    result.stdout.fnmatch_lines(
        [
            f"*Phase 1 Group A gate failed: merging {A2_BRANCH} into main conflicts in shared.txt",
            "conflicting files: shared.txt",
            "the merge was aborted: *every task branch and worktree of the group is kept",
            "2 repair attempts did not resolve it: logs/orchestrator/phase1_groupA_fix1_*.log, "
            "logs/orchestrator/phase1_groupA_fix2_*.log",
        ]
    )
    assert started(project) == ["A1", "A2", "fix1", "fix2"]
    assert not (project.path / ".git" / "MERGE_HEAD").exists()
    assert not git(project.path, "diff", "--name-only", "--diff-filter=U").strip()
    assert not git(project.path, "status", "--porcelain", "--untracked-files=no").strip()
    assert (project.path / "shared.txt").read_text() == "from A1\n"
    assert git(project.path, "show", f"{A2_BRANCH}:shared.txt") == "from A2\n"


def test_conflict_repairs_and_gate_repairs_share_the_bound(project: Project) -> None:
    project.roadmap(ONE_PHASE)
    plan = {**CONFLICTING, "fix1": ["--resolve-conflicts"]}
    args = ("--roadmap-isolation", "worktree", "--roadmap-gate", "false")
    no_task_gate = ("-o", "roadmap_task_gate=none")  # the group's gate only, after merging
    result = run(project, *args, *no_task_gate, plan=plan)
    result.assert_outcomes(passed=2, failed=1, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "*Phase 1 Group A gate failed: 'false' exited with code 1 "
            "(no repair attempt left: 1 used on merge conflicts)"
        ]
    )
    assert started(project) == ["A1", "A2", "fix1"]


def test_worktree_overlap_warns_even_when_merged_cleanly(project: Project) -> None:
    project.roadmap(ONE_PHASE, commit=False)
    (project.path / "lines.txt").write_text("".join(f"line {i}\n" for i in range(1, 10)))
    git(project.path, "add", "-A")
    git(project.path, "commit", "-qm", "start")
    agent = f"{shlex.quote(sys.executable)} {script(project, 'edit', EDIT_LINE)}"
    result = run(project, "--roadmap-isolation", "worktree", "-n", "2", agent=agent)
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "[[]roadmap] Phase 1 Group A gate: warning: tasks of Phase 1 Group A changed the "
            "same files: A1 and A2 changed lines.txt (merged without conflict: check the result)"
        ]
    )
    lines = (project.path / "lines.txt").read_text().splitlines()
    assert lines[0] == "changed by A1" and lines[8] == "changed by A2"


def test_worktree_rerun_reuses_the_failed_tasks_worktree(project: Project) -> None:
    project.roadmap(ONE_PHASE)
    first = run(
        project,
        "--roadmap-isolation",
        "worktree",
        plan={"A1": ["--write", "A1.txt"], "A2": ["--write", "partial.txt", "--exit", "1"]},
    )
    first.assert_outcomes(passed=1, failed=1, skipped=2)
    assert git(project.path, "show", "roadmap/phase1/groupA/A1:A1.txt") == "A1\n"
    assert (worktrees_root(project) / "phase1-groupA-A2" / "partial.txt").exists()
    second = run(
        project, "-rs", "--roadmap-isolation", "worktree", plan={"A2": ["--write", "a2.txt"]}
    )
    second.assert_outcomes(passed=3, skipped=1)
    assert started(project) == ["A1", "A2", "A2"]
    tracked = git(project.path, "ls-files").splitlines()
    assert {"A1.txt", "a2.txt", "partial.txt"} <= set(tracked)


def test_worktree_links_node_modules_and_runs_setup(project: Project) -> None:
    project.roadmap(ONE_PHASE, commit=False)
    (project.path / ".gitignore").write_text("node_modules/\n")
    (project.path / "node_modules").mkdir()
    (project.path / "node_modules" / "marker.js").write_text("//\n")
    git(project.path, "add", "-A")
    git(project.path, "commit", "-qm", "start")
    notes = project.path.parent / f"{project.path.name}-notes"
    agent = f"{shlex.quote(sys.executable)} {script(project, 'node', NODE_CHECK)} {notes}"
    run(project, "--roadmap-isolation", "worktree", agent=agent).assert_outcomes(passed=4)
    assert Path(f"{notes}.A1").read_text().endswith("phase1-groupA-A1 True")
    assert not [p for p in git(project.path, "ls-files").splitlines() if "node_modules" in p]

    # with roadmap_worktree_setup the setup runs instead, in each new worktree
    setup_log = project.path.parent / f"{project.path.name}-setup.log"
    project.pytester.makeini(
        f'[pytest]\nroadmap_worktree_setup = echo "$PWD" >> {shlex.quote(str(setup_log))}\n'
    )
    result = run(project, "--roadmap-isolation", "worktree", "--roadmap-redo", agent=agent)
    result.assert_outcomes(passed=4)
    ran = sorted(Path(line).name for line in setup_log.read_text().splitlines())
    assert ran == ["phase1-groupA-A1", "phase1-groupA-A2"]
    assert Path(f"{notes}.A2").read_text().endswith("False")  # no link with a setup


def test_failed_worktree_setup_fails_the_task_and_runs_again(project: Project) -> None:
    project.roadmap(ONE_PHASE)
    first = run(project, "--roadmap-isolation", "worktree", "-o", "roadmap_worktree_setup=exit 3")
    first.assert_outcomes(failed=2, skipped=2)
    first.stdout.fnmatch_lines(["*worktree setup 'exit 3' exited with code 3 in *phase1-groupA-A1"])
    assert branches(project) == ["main"]
    second = run(project, "--roadmap-isolation", "worktree", "-o", "roadmap_worktree_setup=true")
    second.assert_outcomes(passed=4)
    assert started(project) == ["A1", "A2"]


def test_worktree_dry_run_makes_nothing(project: Project) -> None:
    project.roadmap(ONE_PHASE)
    result = run(project, "--roadmap-isolation", "worktree", "--roadmap-dry-run")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines([f"*A1 would run: * in {worktrees_root(project).resolve()}/*A1:*"])
    assert not worktrees_root(project).exists() and branches(project) == ["main"]


def test_sigint_leaves_every_agents_work_on_its_branch(project: Project) -> None:
    project.roadmap(ONE_PHASE)
    marks = project.path.parent / f"{project.path.name}-started"
    agent = f"{shlex.quote(sys.executable)} {script(project, 'slow', WRITE_THEN_SLEEP)} {marks} 60"
    env = {**os.environ, "PY_COLORS": "0"}
    env.pop("PYTEST_ADDOPTS", None)
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:randomly",
        "-p",
        "no:cacheprovider",
        "--roadmap",
        "ROADMAP.md",
        "--roadmap-agent-command",
        agent,
        "--roadmap-no-push",
        "--roadmap-isolation",
        "worktree",
        "-n",
        "2",
    ]
    proc = subprocess.Popen(
        command,
        cwd=project.path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # a process group of its own, as a terminal's job
    )
    try:
        deadline = time.monotonic() + 60
        while not all(Path(f"{marks}.{t}").exists() for t in ("A1", "A2")):
            assert time.monotonic() < deadline, "the agents did not start"
            assert proc.poll() is None, proc.communicate()[0]
            time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the controller and its workers
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, out.decode(errors="replace")
    for task in ("A1", "A2"):
        content = git(project.path, "show", f"roadmap/phase1/groupA/{task}:{task}.txt")
        assert content == f"work of {task}\n"
        assert subjects(project.path, f"roadmap/phase1/groupA/{task}")[0].startswith(
            f"WIP Phase 1 Group A Task {task} (interrupted)"
        )


# --- the one git runner -------------------------------------------------------------


def test_fold_keeps_one_line_and_drops_hints_unless_asked() -> None:
    message = "error: failed to push some refs\n\nhint: Updates were rejected\nhint: fetch first\n"
    assert fold(message) == "error: failed to push some refs"
    assert fold(message, hints=True) == (
        "error: failed to push some refs hint: Updates were rejected hint: fetch first"
    )
    assert len(fold("x" * 1000)) == REASON_MAX


def test_run_git_fails_with_gits_message(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError) as info:
        run_git(tmp_path, "log")
    assert info.value.reason.startswith("fatal: not a git repository")
    assert info.value.details == ""  # the reason says it all
    assert run_git(tmp_path, "log", check=False) == ""
    with pytest.raises(WorkspaceError, match="is not a directory"):
        run_git(tmp_path / "missing", "status")


def test_run_git_names_the_command_when_git_says_nothing(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    with pytest.raises(WorkspaceError) as info:
        run_git(tmp_path, "commit", "-q", "-m", "nothing")  # git tells stdout, not stderr
    assert info.value.reason == "git commit exited with code 1"


def test_run_git_ends_git_and_what_it_started_after_its_timeout(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    pid_file = tmp_path / "alias.pid"
    git(tmp_path, "config", "alias.slow", f"!echo $$ > {pid_file}; exec sleep 60")
    with pytest.raises(WorkspaceError) as info:
        run_git(tmp_path, "slow", timeout=3)
    assert info.value.reason == "git slow timed out"
    with contextlib.suppress(psutil.NoSuchProcess):  # gone, or a zombie not reaped yet
        assert psutil.Process(int(pid_file.read_text())).status() == psutil.STATUS_ZOMBIE


def test_run_git_never_prompts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_TERMINAL_PROMPT", "1")
    git(tmp_path, "init", "-q")
    git(tmp_path, "config", "alias.env", "!env")
    assert "GIT_TERMINAL_PROMPT=0" in run_git(tmp_path, "env").splitlines()
