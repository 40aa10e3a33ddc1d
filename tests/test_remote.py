"""Several machines: ``--tx popen//chdir=DIR`` workers run tasks in clones, push branches.

A popen worker with its own working directory outside the repository is remote: it clones
the project's ``origin`` (a bare repository next to it), works on the task's branch and
pushes it; the gate fetches and merges the branches in roadmap order.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Project
from tests.conftest import git

PLAN = {task: ["--write", f"{task.lower()}.txt"] for task in ("A1", "A2", "B1", "C1")}


def with_origin(project: Project) -> Path:
    """Commit the roadmap; a bare ``origin`` next to the project, main pushed to it."""
    project.roadmap()
    remote = project.path.parent / f"{project.path.name}-origin.git"
    git(project.path.parent, "init", "-q", "--bare", "-b", "main", str(remote))
    git(project.path, "remote", "add", "origin", str(remote))
    git(project.path, "push", "-q", "-u", "origin", "main")
    return remote


def workdir(project: Project, name: str = "workers") -> Path:
    path = project.path.parent / f"{project.path.name}-{name}"
    path.mkdir(exist_ok=True)
    return path


def test_chdir_workers_bring_every_task_back(project: Project) -> None:
    remote = with_origin(project)
    where = workdir(project)
    result = project.run("--tx", f"2*popen//chdir={where}", plan=PLAN)
    result.assert_outcomes(passed=9)
    tracked = set(git(project.path, "ls-files").splitlines())
    assert {"a1.txt", "a2.txt", "b1.txt", "c1.txt"} <= tracked
    cwds = {r["task"]: r["cwd"] for r in project.records("start")}
    assert all(cwd.startswith(str(where.resolve())) for cwd in cwds.values()), cwds
    assert {Path(cwd).name for cwd in cwds.values()} == {"clone"}
    logs = project.logs()
    for task in ("A1", "A2", "B1", "C1"):
        assert any(f"_{task}_" in name for name in logs), logs
    assert project.status("completed_tasks.txt") == ["PHASE_1:A", "PHASE_1:B", "PHASE_2:C"]
    pushed = git(remote, "for-each-ref", "--format=%(refname)", "refs/heads/roadmap")
    assert "refs/heads/roadmap/phase1/groupA/A2" in pushed.splitlines()
    subjects = git(project.path, "log", "--format=%s").splitlines()
    assert "Merge branch 'roadmap/phase1/groupA/A1' into main" in subjects
    assert subjects[0] == "Complete Phase 2: More"


def test_refused_push_fails_the_task_and_a_rerun_finishes(project: Project) -> None:
    remote = with_origin(project)
    hook = remote / "hooks" / "pre-receive"
    hook.write_text(
        "#!/bin/sh\n"
        "while read old new ref; do\n"
        '  case "$ref" in refs/heads/roadmap/phase1/groupA/A2) '
        'echo "no roadmap branches here" >&2; exit 1;; esac\n'
        "done\n",
        encoding="utf-8",
    )
    hook.chmod(0o755)
    where = workdir(project)
    result = project.run("--tx", f"2*popen//chdir={where}", plan=PLAN)
    result.assert_outcomes(passed=1, failed=1, skipped=7)
    result.stdout.fnmatch_lines(["*A2*gw*git push of roadmap/phase1/groupA/A2*failed*"])
    assert "a1.txt" not in git(project.path, "ls-files")
    pushed = git(remote, "for-each-ref", "--format=%(refname)", "refs/heads/roadmap")
    assert "refs/heads/roadmap/phase1/groupA/A1" in pushed.splitlines()

    hook.unlink()
    again = project.run("--tx", f"2*popen//chdir={where}", plan=PLAN)
    again.assert_outcomes(passed=8, skipped=1)
    started = [r["task"] for r in project.records("start")]
    assert started.count("A1") == 1 and started.count("A2") == 2
    tracked = set(git(project.path, "ls-files").splitlines())
    assert {"a1.txt", "a2.txt", "b1.txt", "c1.txt"} <= tracked


def test_local_and_chdir_worker_in_one_run(project: Project) -> None:
    with_origin(project)
    where = workdir(project)
    # A1 and A2 wait for each other, so they run at once: one on each worker
    meet = ["--meet", str(project.path.parent / f"{project.path.name}-meet")]
    plan = {**PLAN, "A1": PLAN["A1"] + meet, "A2": PLAN["A2"] + meet}
    result = project.run("--tx", "popen", "--tx", f"popen//chdir={where}", plan=plan)
    result.assert_outcomes(passed=9)
    cwds = {r["task"]: r["cwd"] for r in project.records("start")}
    remote = [task for task, cwd in cwds.items() if cwd.startswith(str(where.resolve()))]
    local = [task for task, cwd in cwds.items() if ".roadmap-worktrees" in cwd]
    assert remote and local and len(remote) + len(local) == 4, cwds
    tracked = set(git(project.path, "ls-files").splitlines())
    assert {"a1.txt", "a2.txt", "b1.txt", "c1.txt"} <= tracked
    assert len([name for name in project.logs() if name.endswith(".log")]) >= 4


def test_shipped_log_is_written_once_and_left_out_of_the_report(tmp_path: Path) -> None:
    from pytest_roadmap.dist import nodes as remote
    from pytest_roadmap.model.facts import StepFacts
    from pytest_roadmap.model.facts import facts_of

    log = tmp_path / "worker" / "phase1_groupA_A1_1.log"
    log.parent.mkdir()
    log.write_text("agent output\n", encoding="utf-8")
    shipped = remote.ship_log(log)
    assert shipped is not None
    facts = StepFacts(worker="gw0", shipped_log=shipped)
    report = pytest.TestReport(
        "ROADMAP.md::phase1::groupA::A1",
        ("x", 0, "A1"),
        {},
        "passed",
        None,
        "call",
        user_properties=[("exit_code", 0), facts.entry()],
    )
    remote.write_shipped_log(report, tmp_path / "logs")
    assert (tmp_path / "logs" / log.name).read_text(encoding="utf-8") == "agent output\n"
    assert report.user_properties == [("exit_code", 0), StepFacts(worker="gw0").entry()]
    assert facts_of(report.user_properties).shipped_log is None
    assert "agent output" not in str(report.user_properties)


def test_a_clone_that_fails_names_the_worker(project: Project) -> None:
    with_origin(project)
    where = workdir(project)
    missing = project.path.parent / "no-such-remote.git"
    result = project.run(
        "--tx", f"popen//chdir={where}", "-o", f"roadmap_remote={missing}", plan=PLAN
    )
    result.assert_outcomes(passed=0, failed=2, skipped=7)
    result.stdout.fnmatch_lines([f"*A1*gw0: cannot clone {missing}*"])
    assert not project.records("start")
