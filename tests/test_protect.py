"""Nothing an agent does loses another agent's work (issue 26): snapshots, restores."""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pytest_roadmap.workspace.snapshot import Snapshots
from pytest_roadmap.workspace.snapshot import prune
from tests.conftest import Project
from tests.conftest import git

WIPE = "git reset --hard && git clean -fd"

#: A2 runs after A1 and A3 have finished (serial runs go in roadmap order)
GROUP = """\
# Demo

## Phase 1: Base

### Group A: Three
- **A1: First** - a1
- **A3: Third** - a3
- **A2: Second** - a2
"""


def snapshot_refs(repo: Path) -> list[str]:
    out = git(repo, "for-each-ref", "--format=%(refname)", "refs/roadmap/snapshots/")
    return out.splitlines()


def committed(repo: Path, ref: str = "HEAD") -> list[str]:
    return git(repo, "ls-tree", "-r", "--name-only", ref).splitlines()


def junit_properties(path: Path, name: str) -> dict[str, str]:
    """The properties of the test case ``name`` in a JUnit XML file."""
    for case in ET.parse(path).getroot().iter("testcase"):
        if case.get("name") == name:
            return {p.get("name", ""): p.get("value", "") for p in case.iter("property")}
    raise AssertionError(f"no test case {name}")


def wipe_plan(command: str = WIPE) -> dict[str, list[str]]:
    return {
        "A1": ["--write", "a1.py", "--write", "test_a1.py"],
        "A3": ["--write", "a3.py", "--write", "test_a3.py", "--write", "README=edited by A3\n"],
        "A2": ["--shell", command, "--write", "a2.py"],
    }


def test_the_wipe_is_restored_said_and_committed(project: Project) -> None:
    project.roadmap(GROUP)
    (project.path / "README").write_text("readme\n")
    git(project.path, "add", "README")
    git(project.path, "commit", "-qm", "readme")
    result = project.run("-p", "no:xdist", "--junitxml=out.xml", plan=wipe_plan())
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(
        ["*A2's agent ran a destructive git command: restored 5 files of A1 and A3"]
    )
    files = committed(project.path)
    for name in ("a1.py", "test_a1.py", "a3.py", "test_a3.py", "a2.py"):
        assert name in files
    assert git(project.path, "show", "HEAD:README") == "edited by A3\n"
    props = junit_properties(project.path / "out.xml", "A2")
    assert props["destructive_git"].startswith("restored 5: README, a1.py")
    assert "destructive_git" not in junit_properties(project.path / "out.xml", "A1")


@pytest.mark.parametrize(
    ("command", "files"),
    [("git checkout -- . && git clean -fd", 5), ("git stash -u", 5), ("git stash", 1)],
)
def test_other_destructive_commands_are_restored(
    project: Project, command: str, files: int
) -> None:
    project.roadmap(GROUP)
    (project.path / "README").write_text("readme\n")
    git(project.path, "add", "README")
    git(project.path, "commit", "-qm", "readme")
    result = project.run("-p", "no:xdist", plan=wipe_plan(command))
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(
        [f"*A2's agent ran a destructive git command: restored {files} file*"]
    )
    assert {"a1.py", "test_a1.py", "a3.py", "test_a3.py", "a2.py"} <= set(committed(project.path))
    assert git(project.path, "show", "HEAD:README") == "edited by A3\n"
    assert git(project.path, "status", "--porcelain", "--untracked-files=no") == ""


def test_the_wipe_in_parallel_is_restored(project: Project) -> None:
    """-n 3: A1 and A3 finish while A2's agent still runs; then it wipes the tree."""
    project.roadmap(GROUP)
    plan = wipe_plan()
    plan["A2"] = ["--sleep", "3", *plan["A2"]]
    result = project.run("-n", "3", plan=plan)
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(
        ["*A2's agent ran a destructive git command: restored 5 files of A1 and A3"]
    )
    assert {"a1.py", "test_a1.py", "a3.py", "test_a3.py", "a2.py"} <= set(committed(project.path))


def test_a_file_changed_since_is_merged_back(project: Project) -> None:
    """A3 edited the top of a file; A2 wiped it, then edited its bottom: both are kept."""
    project.roadmap(GROUP)
    lines = [f"line {n}\n" for n in range(1, 11)]
    (project.path / "shared.txt").write_text("".join(lines))
    git(project.path, "add", "shared.txt")
    git(project.path, "commit", "-qm", "shared")
    top = "".join(["line 1 by A3\n", *lines[1:]])
    bottom = "".join([*lines[:-1], "line 10 by A2\n"])
    plan = {
        "A1": ["--write", "a1.py"],
        "A3": ["--write", f"shared.txt={top}"],
        "A2": ["--shell", WIPE, "--write", f"shared.txt={bottom}"],
    }
    result = project.run("-p", "no:xdist", plan=plan)
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(["*restored 2 files of A1 and A3"])
    merged = git(project.path, "show", "HEAD:shared.txt")
    assert merged == "".join(["line 1 by A3\n", *lines[1:-1], "line 10 by A2\n"])


def test_a_conflicting_restore_stops_before_the_gate(project: Project) -> None:
    project.roadmap(GROUP)
    (project.path / "shared.txt").write_text("one\ntwo\n")
    git(project.path, "add", "shared.txt")
    git(project.path, "commit", "-qm", "shared")
    head = git(project.path, "rev-parse", "HEAD")
    plan = {
        "A1": ["--write", "a1.py"],
        "A3": ["--write", "shared.txt=one by A3\ntwo\n"],
        "A2": ["--shell", WIPE, "--write", "shared.txt=one by A2\ntwo\n"],
    }
    result = project.run("-p", "no:xdist", plan=plan)
    assert result.ret == 1
    result.assert_outcomes(passed=2, failed=1, skipped=2)
    result.stdout.fnmatch_lines(
        [
            "*A2's agent ran a destructive git command: restored 1 file of A1",
            "*A2's agent ran a destructive git command and 1 file of A3 changed since: "
            "not put back, the run stops before the gate*",
            "*shared.txt (of A3): git restore --source=refs/roadmap/snapshots/*",
        ]
    )
    assert git(project.path, "rev-parse", "HEAD") == head  # nothing committed
    assert (project.path / "a1.py").exists()
    command = next(
        line.split(": ", 1)[1] for line in result.outlines if "git restore --source=" in line
    )
    subprocess.run(command, shell=True, cwd=project.path, check=True)
    assert (project.path / "shared.txt").read_text() == "one by A3\ntwo\n"


def test_snapshots_touch_nothing_and_older_runs_are_pruned(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "config", "user.name", "T")
    git(tmp_path, "config", "user.email", "t@example.invalid")
    (tmp_path / "a.txt").write_text("a\n")
    git(tmp_path, "add", "a.txt")
    git(tmp_path, "commit", "-qm", "a")
    (tmp_path / "a.txt").write_text("a changed\n")
    (tmp_path / "staged.txt").write_text("s\n")
    git(tmp_path, "add", "staged.txt")
    (tmp_path / "new.txt").write_text("n\n")
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "x.log").write_text("log\n")
    before = [git(tmp_path, *args) for args in (("status", "--porcelain"), ("rev-parse", "HEAD"))]
    index = (tmp_path / ".git" / "index").read_bytes()
    taken = []
    for run in ("20260101T000000Z-1", "20260102T000000Z-1", "20260103T000000Z-1"):
        snaps = Snapshots(tmp_path, run, [tmp_path / "logs"])
        taken.append(snaps.take("start"))
        assert snaps.take("unchanged") is taken[-1]  # no change: no new snapshot
        (tmp_path / "new.txt").write_text(f"{run}\n")
        snaps.take("A1")
        (tmp_path / "new.txt").write_text("n\n")
        snaps.close()
    after = [git(tmp_path, *args) for args in (("status", "--porcelain"), ("rev-parse", "HEAD"))]
    assert after == before
    assert (tmp_path / ".git" / "index").read_bytes() == index
    assert git(tmp_path, "stash", "list") == ""
    files = committed(tmp_path, taken[-1].commit)
    assert files == ["a.txt", "new.txt", "staged.txt"]  # logs/ left out
    assert git(tmp_path, "show", f"{taken[-1].commit}:new.txt") == "n\n"
    assert git(tmp_path, "show", f"{taken[-1].commit}:a.txt") == "a changed\n"
    assert taken[-1].branch == "refs/heads/main" and taken[-1].head == before[1].strip()
    assert prune(tmp_path, "20260103T000000Z-1") == 2  # the first run's two
    assert snapshot_refs(tmp_path) == [
        "refs/roadmap/snapshots/20260102T000000Z-1/1-start",
        "refs/roadmap/snapshots/20260102T000000Z-1/2-A1",
        "refs/roadmap/snapshots/20260103T000000Z-1/1-start",
        "refs/roadmap/snapshots/20260103T000000Z-1/2-A1",
    ]


def test_a_run_leaves_head_index_and_status_as_they_were(project: Project) -> None:
    """Snapshots in a run without accidents: the run's own commit only, refs of this run."""
    project.roadmap(GROUP)
    plan = {task: ["--write", f"{task.lower()}.py"] for task in ("A1", "A2", "A3")}
    result = project.run("-p", "no:xdist", "--roadmap-no-commit", plan=plan)
    result.assert_outcomes(passed=4, skipped=1)
    assert "destructive" not in result.stdout.str()
    status = git(project.path, "status", "--porcelain")
    assert "?? a1.py" in status and " M " not in status and "A " not in status
    refs = snapshot_refs(project.path)
    assert [ref.rsplit("/", 1)[1] for ref in refs] == [
        "1-start",
        "2-A1",
        "3-A3",
        "4-A2",
    ]  # the gate changed nothing: no snapshot of its own


def subjects(repo: Path) -> list[str]:
    return git(repo, "log", "--format=%s").splitlines()


def test_an_agents_own_commit_is_folded_into_the_phase_commit(project: Project) -> None:
    project.roadmap(GROUP)
    plan = {
        "A1": ["--shell", "echo A1 > a1.py && git add a1.py && git commit -qm 'A1 by itself'"],
        "A3": ["--write", "a3.py"],
        "A2": ["--write", "a2.py"],
    }
    result = project.run("-p", "no:xdist", "--junitxml=out.xml", plan=plan)
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(
        ["*A1's agent committed 1 commit on main: folded into the phase commit"]
    )
    assert subjects(project.path) == ["Complete Phase 1: Base", "add roadmap"]
    assert {"a1.py", "a2.py", "a3.py"} <= set(committed(project.path))
    assert git(project.path, "status", "--porcelain", "--untracked-files=no") == ""
    props = junit_properties(project.path / "out.xml", "A1")
    assert props["git_head_moved"] == "committed 1 commit on main: folded into the phase commit"


def test_a_branch_switch_is_undone(project: Project) -> None:
    """A2's agent force-checks out an older branch: back on main, the work as it was."""
    project.roadmap(GROUP)
    git(project.path, "branch", "old")
    (project.path / "README").write_text("readme\n")
    git(project.path, "add", "README")
    git(project.path, "commit", "-qm", "readme")
    plan = {
        "A1": ["--write", "a1.py"],
        "A3": ["--write", "README=edited by A3\n"],
        "A2": ["--shell", "git checkout -qf old", "--write", "a2.py"],
    }
    result = project.run("-p", "no:xdist", plan=plan)
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(["*A2's agent switched to old: undone, back on main at *"])
    assert git(project.path, "symbolic-ref", "HEAD").strip() == "refs/heads/main"
    assert subjects(project.path) == ["Complete Phase 1: Base", "readme", "add roadmap"]
    assert git(project.path, "show", "HEAD:README") == "edited by A3\n"
    assert {"a1.py", "a2.py"} <= set(committed(project.path))


def test_a_reset_to_an_older_commit_is_undone(project: Project) -> None:
    project.roadmap(GROUP)
    (project.path / "README").write_text("readme\n")
    git(project.path, "add", "README")
    git(project.path, "commit", "-qm", "readme")
    plan = {
        "A1": ["--write", "a1.py"],
        "A3": ["--write", "a3.py"],
        "A2": ["--shell", "git reset -q --hard HEAD~1", "--write", "a2.py"],
    }
    result = project.run("-p", "no:xdist", plan=plan)
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(["*A2's agent reset main to *: undone, back on main at *"])
    assert subjects(project.path) == ["Complete Phase 1: Base", "readme", "add roadmap"]
    assert {"README", "a1.py", "a2.py", "a3.py"} <= set(committed(project.path))


@pytest.mark.parametrize(
    ("args", "refused"),
    [
        ((), True),
        (("--roadmap-allow-destructive-git",), False),
        (("--roadmap-isolation", "worktree"), False),
    ],
)
def test_claude_is_refused_destructive_git_in_the_shared_tree(
    project: Project, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], refused: bool
) -> None:
    project.roadmap(GROUP)
    monkeypatch.setenv("CLAUDE_BIN", "/bin/true")
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    result = project.pytester.runpytest_subprocess(
        "--roadmap", "ROADMAP.md", "--roadmap-dry-run", "-p", "no:xdist", *args, timeout=120
    )
    assert result.ret == 0, result.stdout.str()
    line = next(line for line in result.outlines if "A1 would run:" in line)
    rules = '"Bash(git reset:*)", "Bash(git checkout --:*)"'
    assert (rules in line) is refused, line
    assert ("Bash(git commit --amend:*)" in line) is refused, line


def test_completed_lines_naming_nothing_get_one_warning(project: Project) -> None:
    project.roadmap(GROUP)
    status = project.path / "status"
    status.mkdir()
    (status / "completed_tasks.txt").write_text("PHASE_1:A\nPHASE_9:Z\n\nGroup A done\nPHASE_1\n")
    result = project.run("-p", "no:xdist", "--roadmap-no-commit")
    result.assert_outcomes(skipped=5)
    result.stdout.fnmatch_lines(
        [
            "*warning: status/completed_tasks.txt: 2 lines name no phase, group or task of "
            "ROADMAP.md, ignored: 'PHASE_9:Z', 'Group A done'"
        ]
    )
    assert result.stdout.str().count("completed_tasks.txt: ") == 1


def test_worktree_isolation_guards_the_main_tree_during_gates(project: Project) -> None:
    """Tasks work in worktrees; the gate's repair agent wipes the main tree: the work
    that was there before the run is put back, the merges stay."""
    project.roadmap(GROUP)
    (project.path / "notes.txt").write_text("notes\n")
    # the gate is for the group's merged tree only, not each task's worktree
    (project.path / "pytest.ini").write_text("[pytest]\nroadmap_task_gate = none\n")
    git(project.path, "add", "notes.txt", "pytest.ini")
    git(project.path, "commit", "-qm", "notes")
    (project.path / "notes.txt").write_text("notes, edited before the run\n")
    plan = {
        **{task: ["--write", f"{task.lower()}.py"] for task in ("A1", "A2", "A3")},
        "fix1": ["--shell", WIPE, "--write", "fixed.txt"],
    }
    result = project.run(
        "-p",
        "no:xdist",
        "--roadmap-isolation",
        "worktree",
        "--roadmap-gate",
        "test -f fixed.txt",
        plan=plan,
    )
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(
        [
            "*a repair agent of Phase 1 Group A ran a destructive git command: restored 1 file "
            "of the uncommitted work from before the run"
        ]
    )
    assert git(project.path, "show", "HEAD:notes.txt") == "notes, edited before the run\n"
    assert {"a1.py", "a2.py", "a3.py", "fixed.txt"} <= set(committed(project.path))
    assert any(subject.startswith("Merge branch") for subject in subjects(project.path))
