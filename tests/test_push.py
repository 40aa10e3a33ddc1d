"""A refused push does not stop the night's work (issue 26): retries, rebase, later push."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import TWO_GROUPS
from tests.conftest import Project
from tests.conftest import git
from tests.test_git import ONE_PHASE
from tests.test_git import run
from tests.test_git import subjects
from tests.test_git import with_remote


def refuse(remote: Path) -> Path:
    """A pre-receive hook on the bare remote that refuses every push."""
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'pushes are closed' >&2\nexit 1\n")
    hook.chmod(0o755)
    return hook


def push_elsewhere(project: Project, remote: Path, name: str, text: str) -> None:
    """Another clone commits ``name`` and pushes it: the remote moves ahead."""
    other = project.path.parent / f"{project.path.name}-other"
    git(project.path.parent, "clone", "-q", str(remote), str(other))
    (other / name).write_text(text)
    git(other, "add", name)
    git(other, "-c", "user.name=O", "-c", "user.email=o@o", "commit", "-qm", "other work")
    git(other, "push", "-q", "origin", "main")


def test_a_refused_push_lets_the_next_phase_run_and_the_run_fail(project: Project) -> None:
    remote = with_remote(project, TWO_GROUPS)
    hook = refuse(remote)
    result = run(project, "--roadmap-notify", str(_notify(project)))
    assert result.ret == 1
    result.assert_outcomes(passed=8, failed=1)  # phase 2's commit, the last: its push failed
    result.stdout.fnmatch_lines(
        [
            "*Phase 1 commit: warning: git push to origin failed after 3 tries: *pre-receive hook "
            "declined*; push it with: git push origin main; the run goes on",
            "*C1 passed*",
            "*[[]roadmap] not pushed: the commits of phase 1, 2 are kept locally; push them "
            "with: git push origin main",
        ]
    )
    assert subjects(project.path)[:2] == ["Complete Phase 2: More", "Complete Phase 1: Foundation"]
    assert "Complete Phase 1: Foundation" not in subjects(remote, "main")
    events = (project.path.parent / "events.txt").read_text().splitlines()
    assert "push_failed 1" in events and "push_failed 2" in events

    hook.unlink()
    again = run(project)
    assert again.ret == 0
    assert subjects(remote, "main")[:2] == [
        "Complete Phase 2: More",
        "Complete Phase 1: Foundation",
    ]


def test_a_push_after_a_refused_one_takes_it_along(project: Project) -> None:
    """Phase 1's push is refused, phase 2's is not: both arrive, pushed_late, exit 0."""
    remote = with_remote(project, TWO_GROUPS)
    hook = refuse(remote)
    # the hook goes when phase 2's agent runs
    result = run(
        project,
        "--roadmap-notify",
        str(_notify(project)),
        plan={"C1": ["--shell", f"rm {hook}", "--write", "c1.txt"]},
    )
    assert result.ret == 0
    result.assert_outcomes(passed=9)
    assert subjects(remote, "main")[:2] == [
        "Complete Phase 2: More",
        "Complete Phase 1: Foundation",
    ]
    events = (project.path.parent / "events.txt").read_text().splitlines()
    assert events.index("push_failed 1") < events.index("pushed_late 2")
    assert "not pushed" not in result.stdout.str()


def _notify(project: Project) -> Path:
    script = project.path.parent / "notify.sh"
    events = project.path.parent / "events.txt"
    script.write_text(f'#!/bin/sh\necho "$ROADMAP_EVENT $ROADMAP_PHASE" >> {events}\n')
    script.chmod(0o755)
    return script


def test_a_remote_that_moved_is_rebased_onto_and_pushed(project: Project) -> None:
    remote = with_remote(project, ONE_PHASE)
    push_elsewhere(project, remote, "other.txt", "from another clone\n")
    result = run(project, "--junitxml=out.xml")
    assert result.ret == 0
    result.assert_outcomes(passed=4)
    assert subjects(remote, "main")[:3] == [
        "Complete Phase 1: Foundation",
        "other work",
        "add roadmap",
    ]
    assert (
        "origin/main had moved: rebased onto it, then pushed"
        in (project.path / "out.xml").read_text()
    )
    assert (project.path / "other.txt").exists()


def test_a_remote_that_moved_with_a_conflict_is_not_pushed(project: Project) -> None:
    remote = with_remote(project, ONE_PHASE)
    push_elsewhere(project, remote, "a1.txt", "theirs\n")
    result = run(project, plan={"A1": ["--write", "a1.txt=ours\n"]})
    assert result.ret == 1
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*git push to origin failed: origin/main moved and our commits conflict with its "
            "own (*); nothing was forced, the commits are kept locally; push it with: "
            "git pull --rebase origin main (resolve the conflicts), then git push origin main*",
        ]
    )
    assert subjects(project.path)[:2] == ["Complete Phase 1: Foundation", "add roadmap"]
    assert git(project.path, "show", "HEAD:a1.txt") == "ours\n"
    assert git(project.path, "status", "--porcelain", "--untracked-files=no") == ""
    assert subjects(remote, "main")[0] == "other work"
