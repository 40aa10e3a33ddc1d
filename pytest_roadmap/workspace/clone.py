"""A remote worker's clone: where its tasks run, on their branches, pushed to the remote.

A worker outside the controller's repository (see :mod:`pytest_roadmap.dist.nodes`) clones
the repository once, into ``<cwd>/roadmap-<gw>/clone``. Each task checks out its branch
there, started from ``refs/roadmap/base/<phase>/<group>`` (the controller's HEAD, pushed
before the group's first task is sent), or from the branch an earlier run pushed; the work
is committed there and the branch pushed. The gate, on a local worker, fetches the group's
task branches before it merges them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pytest_roadmap.model.plan import Step
from pytest_roadmap.model.plan import group_name
from pytest_roadmap.model.plan import phase_name
from pytest_roadmap.settings import Settings
from pytest_roadmap.workspace import worktree
from pytest_roadmap.workspace.git import WorkspaceError
from pytest_roadmap.workspace.git import run_git
from pytest_roadmap.workspace.git import top_of
from pytest_roadmap.workspace.worktree import TaskWorkspace
from pytest_roadmap.workspace.worktree import branch_name


@dataclass(frozen=True)
class Origin:
    """What a remote worker knows of the controller's repository."""

    worker: str  # the xdist worker id, ``gw1``: errors name it
    url: str  # the repository the clone is made from and branches are pushed to
    project_dir: Path  # the controller's project directory
    top: Path | None  # the top of the controller's repository
    author: tuple[str, ...] = ()  # the controller's git user.name and user.email

    def failed(self, what: str, exc: WorkspaceError) -> WorkspaceError:
        """``gw1: <what>: <git's reason>``."""
        return WorkspaceError(f"{self.worker}: {what}: {exc.reason}", exc.details)


def base_ref(step: Step) -> str:
    """``refs/roadmap/base/phase1/groupA``: where the group's task branches start."""
    assert step.group is not None
    return f"refs/roadmap/base/{phase_name(step.phase)}/{group_name(step.group)}"


def prepare_task(origin: Origin, settings: Settings, step: Step) -> TaskWorkspace:
    """Clone (or fetch into) this worker's clone; check out the task's branch."""
    url = origin.url
    clone = Path.cwd() / f"roadmap-{origin.worker}" / "clone"
    branch = branch_name(step)
    try:
        run_git(Path.cwd(), "--version")
    except WorkspaceError as exc:
        raise origin.failed("cannot run git", exc) from None
    if not (clone / ".git").exists():
        try:
            run_git(Path.cwd(), "clone", "-q", "--no-checkout", url, str(clone))
        except WorkspaceError as exc:
            raise origin.failed(f"cannot clone {url}", exc) from None
    else:
        _save_left_work(clone)
    ref = base_ref(step)
    try:
        run_git(clone, "fetch", "-q", "--no-tags", url, f"+{ref}:{ref}")
    except WorkspaceError as exc:
        raise origin.failed(f"cannot fetch {ref} from {url}", exc) from None
    start = ref
    reused = False
    if not settings.redo:
        try:
            run_git(clone, "fetch", "-q", "--no-tags", url, f"+refs/heads/{branch}:{ref}-task")
            start, reused = f"{ref}-task", True
        except WorkspaceError:
            pass  # not on the remote yet
    for key, value in zip(("user.name", "user.email"), origin.author, strict=False):
        if value and not _has_config(clone, key):
            run_git(clone, "config", key, str(value))
    try:
        run_git(clone, "checkout", "-q", "-f", "-B", branch, start)
        run_git(clone, "clean", "-q", "-fd")
        base = run_git(clone, "rev-parse", "HEAD")
    except WorkspaceError as exc:
        raise origin.failed(f"cannot check out {branch}", exc) from None
    top = origin.top or origin.project_dir
    try:
        inner = origin.project_dir.relative_to(top)
    except ValueError:
        inner = Path()
    return TaskWorkspace(branch, clone, clone / inner, base, not reused)


def _has_config(clone: Path, key: str) -> bool:
    try:
        return bool(run_git(clone, "config", key))
    except WorkspaceError:
        return False


def commit_task(origin: Origin, workspace: TaskWorkspace, step: Step) -> str:
    """Commit the agent's work on the task's branch in the clone (errors name the worker)."""
    try:
        return worktree.commit_task(workspace, step)
    except WorkspaceError as exc:
        raise origin.failed("cannot commit the task's work", exc) from None


def _save_left_work(clone: Path) -> None:
    """What a failed task left in the clone is committed on its branch there (not pushed)."""
    try:
        if run_git(clone, "status", "--porcelain"):
            run_git(clone, "add", "--all")
            run_git(clone, "commit", "-q", "--no-verify", "-m", "WIP (left by a failed task)")
    except WorkspaceError:
        pass


def push_task(origin: Origin, settings: Settings, workspace: TaskWorkspace) -> str:
    """Push the task's branch to the remote: ``<branch> to <remote>``."""
    url = origin.url
    refspec = f"{'+' if settings.redo else ''}{workspace.branch}:refs/heads/{workspace.branch}"
    try:
        run_git(workspace.path, "push", "-q", url, refspec)
    except WorkspaceError as exc:
        raise origin.failed(f"git push of {workspace.branch} to {url} failed", exc) from None
    return f"{workspace.branch} to {url}"


def fetch_group(url: str, settings: Settings, gate: Step) -> str | None:
    """In the controller's repository: fetch the group's task branches that remote workers
    pushed to ``url``; the branches fetched, or None."""
    top = top_of(settings.project_dir)
    if top is None:
        return None
    assert gate.group is not None
    prefix = f"refs/heads/roadmap/{phase_name(gate.phase)}/{group_name(gate.group)}/"
    try:
        listed = run_git(top, "ls-remote", url, f"{prefix}*")
    except WorkspaceError as exc:
        raise WorkspaceError(
            f"{gate.label}: cannot list the task branches of {url}: {exc.reason}"
        ) from None
    checked_out = run_git(top, "worktree", "list", "--porcelain")
    refs = [line.split()[1] for line in listed.splitlines() if line.strip()]
    specs = [f"+{ref}:{ref}" for ref in refs if f"branch {ref}" not in checked_out]
    if not specs:
        return None
    try:
        run_git(top, "fetch", "-q", "--no-tags", url, *specs)
    except WorkspaceError as exc:
        raise WorkspaceError(
            f"{gate.label}: cannot fetch the task branches: {exc.reason}"
        ) from None
    return " ".join(ref.removeprefix("refs/heads/") for ref in refs)
