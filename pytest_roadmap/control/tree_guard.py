"""The shared tree's guard: snapshots at each step, lost work put back, and said.

Registered in the controller. In shared isolation it snapshots the tree (see
:mod:`pytest_roadmap.workspace.snapshot`) at the start of the run, after each task, before
and after each gate and after each phase commit. After each task and gate it compares the
tree with the last snapshot: work of finished tasks that a later agent reverted or deleted
is put back (:mod:`pytest_roadmap.workspace.lost`), in one line, with a JUnit property on
the step whose agent did it. Work that cannot be put back fails that step, so the gate and
the phase commit do not run on a tree with lost work. In worktree isolation (or with
remote workers) the tasks work elsewhere: the project's tree is checked before and after
each gate only, and HEAD moving forward is the gate's merges.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from collections.abc import Iterable

import pytest

from pytest_roadmap.context import RoadmapRun
from pytest_roadmap.dist import nodes
from pytest_roadmap.model.plan import Step
from pytest_roadmap.model.plan import local_id_of
from pytest_roadmap.terminal import say
from pytest_roadmap.workspace import head as moves
from pytest_roadmap.workspace import snapshot
from pytest_roadmap.workspace.git import WorkspaceError
from pytest_roadmap.workspace.git import top_of
from pytest_roadmap.workspace.lost import Restored
from pytest_roadmap.workspace.lost import recovery_command
from pytest_roadmap.workspace.lost import restore
from pytest_roadmap.workspace.phase_commit import report_paths
from pytest_roadmap.workspace.snapshot import Snapshot
from pytest_roadmap.workspace.snapshot import Snapshots

#: the owner of changes the tree held when the run began
BEFORE_RUN = "the uncommitted work from before the run"
#: the JUnit property on the step whose agent lost others' work
PROPERTY = "destructive_git"
#: the JUnit property on the step whose agent moved HEAD or the branch
HEAD_PROPERTY = "git_head_moved"


def install(config: pytest.Config, run: RoadmapRun) -> None:
    """Register the guard on the project's git tree (the agents' shared tree, or in
    worktree isolation the tree the gates merge into and repair)."""
    settings = run.settings
    reports = [config.getoption(name, None) for name in ("xmlpath", "htmlpath")]
    reports.append(str(settings.report) if settings.report is not None else None)
    exclude = [settings.status_dir, settings.log_dir, *report_paths(settings.project_dir, reports)]
    if settings.dry_run or config.getoption("collectonly"):
        return
    top = top_of(settings.project_dir)
    if top is None:
        return
    # with a remote worker, tasks work in worktrees and clones, as in worktree isolation
    shared = settings.isolation == "shared" and not nodes.any_remote_spec(config, top)
    snaps = Snapshots(top, snapshot.run_id(), exclude)
    config.pluginmanager.register(WorkGuard(config, run, snaps, shared), "roadmap-guard")


class WorkGuard:
    """Snapshots, comparisons and restores of the shared tree, in the controller."""

    def __init__(
        self, config: pytest.Config, run: RoadmapRun, snaps: Snapshots, shared: bool = True
    ) -> None:
        self.config = config
        #: the agents share the tree; else (worktree isolation) only gates work in it, and
        #: HEAD moving forward is their merges
        self.shared = shared
        self.run = run
        self.snaps = snaps
        self.base = snapshot.EMPTY_TREE  # the tree the pending work is measured against
        self.last: Snapshot | None = None
        #: path -> the task whose change it holds (first seen after that task)
        self.owners: dict[str, str] = {}
        #: local id -> JUnit properties its teardown report gets
        self.properties: dict[str, list[tuple[str, object]]] = {}
        self.problem: str | None = None  # why snapshots stopped (git failed)
        #: HEAD and its branch when the phase began (as the last snapshot found them)
        self.head: str | None = None
        self.branch: str | None = None
        self.said_head: str | None = None  # the agents' last commit said to be folded

    # -- hooks ---------------------------------------------------------------

    @pytest.hookimpl(trylast=True)
    def pytest_sessionstart(self) -> None:
        self._guarded(self._start)

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        step = self.run.steps.get(local_id_of(nodeid))
        if step is not None and step.kind == "gate":
            self._guarded(lambda: self.check(step, f"before {step.name}"))

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Before the controller settles the step (a failure here holds the gate back)
        and before junitxml reads the teardown report's properties."""
        step = self.run.steps.get(local_id_of(report.nodeid))
        if step is None:
            return
        if report.when == "call" and (step.kind == "gate" or (step.kind == "task" and self.shared)):
            self._guarded(lambda: self._after(step, report))
        elif report.when == "call" and step.kind == "commit" and report.passed:
            self._guarded(lambda: self._rebase(step))
        elif report.when == "teardown":
            report.user_properties += self.properties.pop(step.local_id, [])

    def pytest_sessionfinish(self) -> None:
        self.snaps.close()

    # -- the work ------------------------------------------------------------

    def _start(self) -> None:
        """Prune older runs' snapshots; the first snapshot; its changes are the user's."""
        snapshot.prune(self.snaps.top, self.snaps.run)
        self.base = snapshot.head_tree(self.snaps.top)
        self.last = self.snaps.take("start")
        self.head, self.branch = self.last.head, self.last.branch
        pending = self.snaps.changes(self.base, self.last.tree)
        self.owners = dict.fromkeys(pending, BEFORE_RUN)

    def _after(self, step: Step, report: pytest.TestReport) -> None:
        lost = self.check(step, step.name)
        if lost is not None and lost.conflicts:
            report.outcome = "failed"
            report.longrepr = self._conflict_text(step, lost)
        elif step.kind == "task" and step.task is not None and self.last is not None:
            self._own(step.task.id)
        if step.kind == "gate" and step.group is step.phase.groups[-1]:
            self._fold()

    def _fold(self) -> None:
        """Before the phase commit: the agents' own commits become part of it."""
        if (
            self.head is None
            or self.last is None
            or not self.shared
            or not self.run.settings.commit
        ):
            return
        if self.last.head != self.head and self.last.branch == self.branch:
            moves.fold(self.snaps, self.head)

    def _rebase(self, step: Step) -> None:
        """After a phase commit: its tree is the new base; nothing is pending."""
        self.base = snapshot.head_tree(self.snaps.top)
        self.owners.clear()
        self.last = self.snaps.take(step.name)
        self.head, self.branch = self.last.head, self.last.branch

    def check(self, step: Step, label: str) -> Restored | None:
        """Snapshot the tree; put back what was lost since the last one (None: nothing)."""
        previous = self.last
        now = self.snaps.take(label)
        self.last = now
        if previous is None or now is previous:
            return None
        rebase = False
        move = moves.moved(self.snaps, self.head, self.branch, now)
        if move is not None and move.kind == "committed" and not self.shared:
            self.head = now.head  # the gate's merges: measured from their tree hereafter
            rebase = True
        elif move is not None and move.kind == "committed":
            if now.head != self.said_head:
                self.said_head = now.head
                self._line(step, f"{move.text}: folded into the phase commit")
        elif move is not None:
            moves.undo(self.snaps, self.head, self.branch, previous)
            where = f"{moves.short(self.branch)} at {(self.head or '')[:12]}"
            self._line(step, f"{move.text}: undone, back on {where}")
            now = self.last = self.snaps.take(f"{label} undone")
        # a gate's repair agents are there to change finished tasks' files
        merge = step.kind == "task"
        lost = restore(self.snaps, self.base, previous, now, self.owners, merge)
        if rebase:
            self.base = snapshot.head_tree(self.snaps.top)
        if not lost.paths and not lost.conflicts:
            return None
        if lost.paths:
            self.last = self.snaps.take(f"{label} restored")
            self._say(step, lost)
        return lost

    def _own(self, task: str) -> None:
        """Changes first seen now are the task's (the agent of a task just finished)."""
        assert self.last is not None
        for path in self.snaps.changes(self.base, self.last.tree):
            self.owners.setdefault(path, task)

    def _say(self, step: Step, lost: Restored) -> None:
        count = len(lost.paths)
        owners = _and(self._in_order(lost.owners()))
        line = (
            f"{_culprit(step)} ran a destructive git command: restored {count} "
            f"file{'s' * (count != 1)} of {owners}"
        )
        say(self.config, line)
        props = self.properties.setdefault(step.local_id, [])
        props.append((PROPERTY, f"restored {count}: {', '.join(sorted(lost.paths))}"))

    def _line(self, step: Step, text: str) -> None:
        """``A2's agent <text>``, as a progress line and a JUnit property of the step."""
        say(self.config, f"{_culprit(step)} {text}")
        self.properties.setdefault(step.local_id, []).append((HEAD_PROPERTY, text))

    def _in_order(self, owners: Iterable[str]) -> list[str]:
        """Owners in the roadmap's order, the work from before the run last."""
        order = {task.id: index for index, (_, _, task) in enumerate(self.run.roadmap.tasks())}
        return sorted(set(owners), key=lambda owner: order.get(owner, len(order)))

    def _conflict_text(self, step: Step, lost: Restored) -> str:
        commands = "\n".join(
            f"  {shlex.quote(path)} (of {owner}): "
            f"{recovery_command(lost.source, shlex.quote(path))}"
            for path, owner in sorted(lost.conflicts.items())
        )
        count = len(lost.conflicts)
        text = (
            f"{_culprit(step)} ran a destructive git command and {count} "
            f"file{'s' * (count != 1)} of {_and(self._in_order(lost.conflicts.values()))} "
            "changed since: not put back, the run stops before the gate; bring each back "
            f"with:\n{commands}"
        )
        if self.run.progress is not None:
            self.run.progress.stop(text.splitlines()[0])
        return text

    def _guarded(self, work: Callable[[], object]) -> None:
        """Run ``work``; a git failure stops the snapshots with one warning, not the run."""
        if self.problem is not None:
            return
        try:
            work()
        except WorkspaceError as exc:
            self.problem = f"snapshots of the tree stopped: {exc.reason}"
            say(self.config, f"warning: {self.problem}")


def _culprit(step: Step) -> str:
    if step.task is not None:
        return f"{step.task.id}'s agent"
    return f"a repair agent of {step.label.removesuffix(' gate')}"


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
