"""Worktree isolation: each task in its own git worktree and branch.

A task's agent works in ``<repo>.roadmap-worktrees/phase1-groupA-A1`` (a sibling of the
repository, so that nothing there is committed with the phase, seen by the gate's tools,
or lies under ``.git/``, which Claude Code refuses to write) on the branch
``roadmap/phase1/groupA/A1``, made from the main tree's HEAD when the task starts.
Nothing commits to the main branch while a group runs, so every task of a group starts
from the same commit, on whichever xdist worker it runs.

When the agent succeeds its changes are committed on its branch. The group's gate first
merges the branches into the main tree's branch in roadmap order (``--no-ff``), then runs
the gate commands; after a passed gate the group's worktrees and branches are removed.
A merge conflict is first offered to the gate's resolver (a repair agent working on the
merge in progress in the main tree); when it is not resolved, that merge is aborted and
every branch and worktree of the group is kept.

A task that runs again while its worktree or branch is still there (its group did not
pass) reuses them, with whatever the earlier attempt left there, as a re-run in the shared
tree would; a redo makes them afresh from the current HEAD.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import git
from filelock import FileLock

from pytest_roadmap.agents.shell import run_commands
from pytest_roadmap.model.plan import Step
from pytest_roadmap.model.plan import group_name
from pytest_roadmap.model.plan import phase_name
from pytest_roadmap.model.roadmap import Task
from pytest_roadmap.paths import inside
from pytest_roadmap.paths import relative_to
from pytest_roadmap.settings import Settings
from pytest_roadmap.workspace.git import WorkspaceError
from pytest_roadmap.workspace.git import open_repo
from pytest_roadmap.workspace.git import run_git

ROOT_SUFFIX = ".roadmap-worktrees"
LOCK_NAME = "roadmap-worktrees.lock"
LOCK_TIMEOUT = 300.0
NODE_MODULES = "node_modules"
DETAILS_LIMIT = 20
#: a line that starts or ends a conflict hunk (``<<<<<<< HEAD``, ``>>>>>>> branch``)
CONFLICT_MARKER = re.compile(rb"^(?:<{7}|>{7})(?:[ \t]|\r?$)", re.MULTILINE)


@dataclass(frozen=True)
class TaskWorkspace:
    """Where one task's agent works."""

    branch: str
    path: Path  # the worktree's top directory
    cwd: Path  # the project directory inside it: the agent's working directory
    base: str  # the commit the branch started from (or its tip when reused)
    created: bool  # made by this run (False: reused from an earlier run)
    excluded: tuple[str, ...] = ()  # paths never committed (the node_modules link)


@dataclass(frozen=True)
class MergeConflict:
    """A task branch whose merge conflicts; the merge is in progress in the main tree."""

    gate: Step
    task: Task
    branch: str
    target: str
    files: tuple[str, ...] = ()  # the files still in conflict, relative to the top

    def describe(self) -> str:
        """``roadmap/phase1/groupA/A2 into main: shared.txt``."""
        return f"{self.branch} into {self.target}: {', '.join(self.files[:DETAILS_LIMIT])}"


#: offered a conflict, it tries to resolve it (True) or declines (False: no attempt left)
ConflictResolver = Callable[[MergeConflict], bool]


# -- names ---------------------------------------------------------------------------


def branch_name(step: Step) -> str:
    """``roadmap/phase1/groupA/A1``."""
    assert step.group is not None and step.task is not None
    return f"roadmap/{phase_name(step.phase)}/{group_name(step.group)}/{step.task.id}"


def task_branch(step: Step, task: Task) -> str:
    """The branch of ``task``, one of the tasks of the group of ``step``."""
    assert step.group is not None
    return f"roadmap/{phase_name(step.phase)}/{group_name(step.group)}/{task.id}"


def worktree_root(top: Path) -> Path:
    """``/path/app.roadmap-worktrees`` for the repository at ``/path/app``."""
    return top.parent / f"{top.name}{ROOT_SUFFIX}"


def worktree_dir(top: Path, step: Step, task: Task | None = None) -> Path:
    """``/path/app.roadmap-worktrees/phase1-groupA-A1``."""
    assert step.group is not None
    task = task or step.task
    assert task is not None
    return worktree_root(top) / f"{phase_name(step.phase)}-{group_name(step.group)}-{task.id}"


def planned_cwd(settings: Settings, step: Step) -> Path:
    """Where the task's agent works: the project directory unless isolated (nothing made)."""
    if settings.isolation != "worktree":
        return settings.project_dir
    repo = open_repo(settings.project_dir)
    if repo is None or repo.working_tree_dir is None:
        return settings.project_dir
    top = Path(repo.working_tree_dir).resolve()
    return worktree_dir(top, step) / _inner(settings.project_dir, top)


# -- one task ------------------------------------------------------------------------


def prepare_task(settings: Settings, step: Step, log: Path) -> TaskWorkspace:
    """Make (or reuse) the task's worktree and branch; run the setup in a new one."""
    repo, top = _main_repo(settings)
    branch = branch_name(step)
    path = worktree_dir(top, step)
    new_branch = False
    with _locked(repo):
        run_git(top, "worktree", "prune")
        registered = _registered(top)
        if settings.redo and (path in registered or _branch_exists(top, branch)):
            if path in registered:
                run_git(top, "worktree", "remove", "--force", str(path))
            registered.pop(path, None)
            run_git(top, "branch", "-D", branch)
        created = path not in registered
        if created:
            if path.exists():
                raise WorkspaceError(
                    f"cannot make the worktree of {branch}: {path} exists and is not a "
                    "worktree of this repository; move it away"
                )
            if not repo.head.is_valid():
                raise WorkspaceError(
                    "worktree isolation needs a commit to branch from: commit first"
                )
            path.parent.mkdir(parents=True, exist_ok=True)
            new_branch = not _branch_exists(top, branch)
            if new_branch:
                run_git(top, "worktree", "add", "-b", branch, str(path), "HEAD")
            else:
                run_git(top, "worktree", "add", str(path), branch)
        elif registered[path] != f"refs/heads/{branch}":
            raise WorkspaceError(
                f"the worktree {path} is on {registered[path] or 'a detached HEAD'}, "
                f"not on {branch}: check it out there again, or remove the worktree "
                f"(git worktree remove {path})"
            )
    cwd = path / _inner(settings.project_dir, top)
    excluded: list[str] = []
    if created:
        try:
            excluded += _set_up(settings, path, cwd, log)
        except WorkspaceError:
            # made afresh next time, so that the setup runs again; a new branch holds no work
            with _locked(repo):
                run_git(top, "worktree", "remove", "--force", str(path), check=False)
                if new_branch:
                    run_git(top, "branch", "-D", branch, check=False)
            raise
    elif (cwd / NODE_MODULES).is_symlink():
        excluded.append(relative_to(cwd / NODE_MODULES, path))
    base = git.Repo(path).head.commit.hexsha
    return TaskWorkspace(branch, path, cwd, base, created, tuple(excluded))


def _set_up(settings: Settings, top: Path, cwd: Path, log: Path) -> list[str]:
    """Run ``settings.worktree_setup``, or link the main tree's node_modules; return excluded."""
    if settings.worktree_setup:
        [result] = run_commands([settings.worktree_setup], cwd, log, settings.task_timeout)
        if not result.ok:
            how = "timed out" if result.timed_out else f"exited with code {result.exit_code}"
            raise WorkspaceError(
                f"worktree setup '{settings.worktree_setup}' {how} in {cwd}",
                result.tail.rstrip(),
            )
        return []
    source = settings.project_dir / NODE_MODULES
    link = cwd / NODE_MODULES
    if source.is_dir() and not link.exists() and not link.is_symlink():
        link.symlink_to(source.resolve(), target_is_directory=True)
        return [relative_to(link, top)]
    return []


def commit_task(workspace: TaskWorkspace, step: Step) -> str:
    """Commit the agent's changes on the task's branch: the commit, or ``none: no changes``."""
    assert step.group is not None and step.task is not None
    title = f"Phase {step.phase.number} Group {step.group.id} Task {step.task.id}"
    sha = _commit(workspace, f"{title}: {step.task.title}".rstrip(": "))
    return "none: no changes" if sha is None else sha


def save_work(workspace: TaskWorkspace, step: Step, why: str) -> str | None:
    """Commit whatever the agent left (an interrupted run) on its branch; never raises."""
    assert step.group is not None and step.task is not None
    message = (
        f"WIP Phase {step.phase.number} Group {step.group.id} Task {step.task.id} "
        f"({why}): {step.task.title}"
    )
    try:
        return _commit(workspace, message)
    except (WorkspaceError, git.GitError, OSError):
        return None


def _commit(workspace: TaskWorkspace, message: str) -> str | None:
    repo = git.Repo(workspace.path)
    head = repo.head
    expected = f"refs/heads/{workspace.branch}"
    if head.is_detached or head.ref.path != expected:
        where = "a detached HEAD" if head.is_detached else head.ref.name
        raise WorkspaceError(
            f"the agent left its worktree {workspace.path} on {where}, not on "
            f"{workspace.branch}: its work was not committed"
        )
    pathspec = ["."] + [f":(exclude){path}" for path in workspace.excluded]
    run_git(workspace.path, "add", "--all", "--", *pathspec)
    if not repo.index.diff("HEAD"):
        return None
    run_git(workspace.path, "commit", "--no-verify", "-q", "-m", message)
    return repo.head.commit.hexsha


# -- the group's gate ----------------------------------------------------------------


@dataclass(frozen=True)
class Merged:
    """What a gate's merge did: each branch merged (``<branch> <sha>``), and a warning when
    two tasks changed the same files."""

    branches: tuple[str, ...] = ()
    warning: str = ""


def merge_group(settings: Settings, gate: Step, resolve: ConflictResolver | None = None) -> Merged:
    """Merge the group's task branches into the main tree's branch, in roadmap order.

    A conflict is offered to ``resolve`` (the merge in progress) until it is resolved or
    declined; then the merge is committed. Returns report properties (merged branches, a
    warning when two tasks changed the same file); raises :class:`WorkspaceError` on a
    conflict left unresolved, after aborting that merge.
    """
    assert gate.group is not None
    repo, top = _main_repo(settings)
    target = _current_branch(repo)
    branches = [
        (task, task_branch(gate, task))
        for task in gate.group.tasks
        if _branch_exists(top, task_branch(gate, task))
    ]
    changes = {branch: _changed_files(top, branch) for _, branch in branches}
    done: list[str] = []
    merged: list[str] = []
    resolved: list[str] = []
    for task, branch in branches:
        if not changes[branch]:
            continue  # already merged (an earlier run), or no changes
        message = f"Merge branch '{branch}' into {target}\n\nTask {task.id}: {task.title}\n"
        conflict = MergeConflict(gate, task, branch, target)
        error, files = _merge_branch(repo, top, conflict, message, resolve)
        if error is not None:
            raise _merge_failure(repo, top, conflict, merged, changes, error, files)
        merged.append(branch)
        how = " (conflicts resolved by a repair agent)" if files else ""
        done.append(f"{branch} {repo.head.commit.hexsha[:12]}{how}")
        resolved += [task.id] if files else []
    return Merged(tuple(done), _overlap(gate, branches, changes, resolved))


def _merge_branch(
    repo: git.Repo,
    top: Path,
    conflict: MergeConflict,
    message: str,
    resolve: ConflictResolver | None,
) -> tuple[WorkspaceError | None, list[str]]:
    """Merge one branch; offer its conflicts to ``resolve`` until merged or declined.

    Returns the last error (None: merged) and the files of the first conflict.
    """
    error = _try_git(top, "merge", "--no-ff", "--no-verify", "-m", message, conflict.branch)
    files = _unmerged(top) if error is not None and _in_merge(repo) else []
    first = files
    while error is not None:
        offered = dataclasses.replace(conflict, files=tuple(files))
        if not files or resolve is None or not resolve(offered):
            return error, first
        error, files = _conclude(repo, top, conflict.branch, files, message)
    return None, first


def _conclude(
    repo: git.Repo, top: Path, branch: str, files: list[str], message: str
) -> tuple[WorkspaceError | None, list[str]]:
    """After a resolver ran: stage the files it resolved and commit the merge.

    A file still holding conflict markers is not staged. Returns the error (None: the
    merge is committed) and the files still in conflict.
    """
    if not _in_merge(repo):  # the resolver committed the merge itself, or aborted it
        if _is_ancestor(top, branch):
            return None, []
        return WorkspaceError(f"the merge of {branch} is no longer in progress"), []
    marked = [path for path in files if _has_markers(top / path)]
    for path in files:
        if path not in marked:
            run_git(top, "add", "-A", "--", path, check=False)
    left = sorted(set(marked) | set(_unmerged(top)))
    if left:
        return WorkspaceError(f"conflicts remain in {', '.join(left[:DETAILS_LIMIT])}"), left
    error = _try_git(top, "commit", "--no-verify", "-q", "-m", message)
    return error, ([] if error is None else files)


def remove_group(settings: Settings, gate: Step) -> list[str]:
    """After a passed gate: remove the group's worktrees and merged branches; a note for
    each branch kept."""
    assert gate.group is not None
    repo, top = _main_repo(settings)
    notes: list[str] = []
    with _locked(repo):
        registered = _registered(top)
        for task in gate.group.tasks:
            path = worktree_dir(top, gate, task)
            branch = task_branch(gate, task)
            try:
                if path in registered:
                    run_git(top, "worktree", "remove", "--force", str(path))
                if _branch_exists(top, branch):
                    # -d: only when merged; an unmerged branch stays
                    run_git(top, "branch", "-d", branch)
            except WorkspaceError as exc:
                notes.append(f"kept {branch}: {exc.reason}")
        run_git(top, "worktree", "prune")
    root = worktree_root(top)
    if root.is_dir() and not any(root.iterdir()):
        root.rmdir()
    return notes


def _merge_failure(
    repo: git.Repo,
    top: Path,
    conflict: MergeConflict,
    merged: list[str],
    changes: dict[str, set[str]],
    exc: WorkspaceError,
    conflicts: list[str],
) -> WorkspaceError:
    """Abort the merge in progress; the error naming the conflict and how to go on."""
    if _in_merge(repo):
        run_git(top, "merge", "--abort", check=False)
    gate, branch, target = conflict.gate, conflict.branch, conflict.target
    path = worktree_dir(top, gate, conflict.task)
    if not conflicts:
        return WorkspaceError(
            f"{gate.label} failed: merging {branch} into {target} failed: {exc.reason}",
            "\n".join([exc.details, *_resume_lines(target, branch, path)]).strip(),
        )
    shown = ", ".join(conflicts[:DETAILS_LIMIT])
    others = [other for other in changes if other != branch and changes[other] & set(conflicts)]
    involved = [f"{branch} (being merged)"]
    involved += [
        f"{other} ({'merged before it' if other in merged else 'merged earlier'})"
        for other in others
    ]
    if not others:
        involved.append(f"{target} (changed since the group started)")
    details = [
        f"conflicting files: {shown}",
        f"branches involved: {', '.join(involved)}",
        f"the merge was aborted: {target} is as before merging {branch}; every task "
        "branch and worktree of the group is kept",
        *_resume_lines(target, branch, path),
    ]
    return WorkspaceError(
        f"{gate.label} failed: merging {branch} into {target} conflicts in {shown}",
        "\n".join(details),
    )


def _resume_lines(target: str, branch: str, path: Path) -> list[str]:
    return [
        f"inspect: git diff {target} {branch}   (the task's worktree: {path})",
        f"resume: git merge {branch}, fix the conflicts and git commit (or fix the branch "
        "in its worktree), then run again: passed tasks do not run again and the gate "
        "merges what is not merged yet",
    ]


def _overlap(
    gate: Step,
    branches: list[tuple[Task, str]],
    changes: dict[str, set[str]],
    resolved: list[str],
) -> str:
    """``A1 and A2 both changed src/x.js`` when two tasks changed the same files."""
    by_file: dict[str, list[str]] = {}
    for task, branch in branches:
        for path in sorted(changes[branch]):
            by_file.setdefault(path, []).append(task.id)
    shared = {path: ids for path, ids in by_file.items() if len(ids) > 1}
    if not shared:
        return ""
    parts = [f"{' and '.join(ids)} changed {path}" for path, ids in sorted(shared.items())]
    how = "merged without conflict"
    if resolved:
        how = f"the conflicts of {', '.join(resolved)} resolved by a repair agent"
    return (
        f"tasks of {gate.label.removesuffix(' gate')} changed the same files: "
        + "; ".join(parts[:DETAILS_LIMIT])
        + f" ({how}: check the result)"
    )


# -- git helpers ---------------------------------------------------------------------


def _main_repo(settings: Settings) -> tuple[git.Repo, Path]:
    repo = open_repo(settings.project_dir)
    if repo is None or repo.working_tree_dir is None:
        raise WorkspaceError(f"{settings.project_dir}: not inside a git repository")
    return repo, Path(repo.working_tree_dir).resolve()


@contextmanager
def _locked(repo: git.Repo) -> Iterator[None]:
    """One process at a time adds or removes worktrees of this repository."""
    with FileLock(str(Path(repo.common_dir) / LOCK_NAME), timeout=LOCK_TIMEOUT):
        yield


def _try_git(top: Path, *args: str) -> WorkspaceError | None:
    """Run git; its error instead of raising it."""
    try:
        run_git(top, *args)
    except WorkspaceError as exc:
        return exc
    return None


def _in_merge(repo: git.Repo) -> bool:
    return (Path(repo.git_dir) / "MERGE_HEAD").exists()


def _unmerged(top: Path) -> list[str]:
    """Paths with unresolved conflicts in the index."""
    unmerged = run_git(top, "diff", "--name-only", "--diff-filter=U", check=False)
    return sorted(set(_lines(unmerged)))


def _is_ancestor(top: Path, branch: str) -> bool:
    return _try_git(top, "merge-base", "--is-ancestor", branch, "HEAD") is None


def _has_markers(path: Path) -> bool:
    """The file has a line starting or ending a conflict hunk (a missing file has none)."""
    try:
        return CONFLICT_MARKER.search(path.read_bytes()) is not None
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return False


def _registered(top: Path) -> dict[Path, str]:
    """Worktree paths of the repository (the main one too), each with its branch ref."""
    found: dict[Path, str] = {}
    current: Path | None = None
    for line in _lines(run_git(top, "worktree", "list", "--porcelain")):
        if line.startswith("worktree "):
            current = Path(line.removeprefix("worktree ")).resolve()
            found[current] = ""
        elif line.startswith("branch ") and current is not None:
            found[current] = line.removeprefix("branch ")
    return found


def _branch_exists(top: Path, branch: str) -> bool:
    return bool(run_git(top, "rev-parse", "--verify", "-q", f"refs/heads/{branch}", check=False))


def _current_branch(repo: git.Repo) -> str:
    return "HEAD" if repo.head.is_detached else repo.active_branch.name


def _changed_files(top: Path, branch: str) -> set[str]:
    """Files the branch changed since it forked from HEAD (nothing once merged)."""
    return set(_lines(run_git(top, "diff", "--name-only", f"HEAD...{branch}", "--")))


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def _inner(project_dir: Path, top: Path) -> Path:
    """The project directory relative to the repository's top ('.' when outside it)."""
    return Path(relative_to(project_dir, top)) if inside(project_dir, top) else Path()
