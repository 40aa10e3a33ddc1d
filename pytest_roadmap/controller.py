"""The controller's view of the run: outcomes, status files, cache records, progress lines.

Registered only in the controlling process (serial runs, or xdist's controller).
Workers report through ``pytest_runtest_logreport``; only this class writes state.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from collections.abc import Iterable
from datetime import datetime
from datetime import timezone
from typing import Any

import pytest

from pytest_roadmap.context import RoadmapRun
from pytest_roadmap.plan import DONE_IN_ROADMAP
from pytest_roadmap.plan import GROUP_DONE_IN_ROADMAP
from pytest_roadmap.plan import Outcome
from pytest_roadmap.plan import Progress
from pytest_roadmap.plan import Step
from pytest_roadmap.plan import group_key
from pytest_roadmap.plan import group_label
from pytest_roadmap.plan import local_id_of
from pytest_roadmap.plan import task_key
from pytest_roadmap.report import TaskLine
from pytest_roadmap.report import cost_and_turns
from pytest_roadmap.report import status_markdown
from pytest_roadmap.runlock import write_error
from pytest_roadmap.state import StatusFiles
from pytest_roadmap.state import TaskRecords
from pytest_roadmap.state import task_digest
from pytest_roadmap.throttle import Throttle

NOTHING = "nothing to commit"  # the phase commit's note when the tree had no change
PENDING_INTERVAL = 1.0  # seconds between rewrites of status/pending_tasks.txt during a run


def report_outcome(rep: pytest.TestReport) -> Outcome | None:
    """The step outcome a report settles, or None when it settles nothing yet."""
    if rep.failed:
        return "failed"
    if rep.when == "setup" and rep.skipped:
        return "skipped"
    if rep.when == "call":
        return "skipped" if rep.skipped else "passed"
    return None


class RoadmapController:
    """Owns progress, status files and cache records in the controlling process."""

    def __init__(
        self,
        config: pytest.Config,
        run: RoadmapRun,
        status: StatusFiles,
        records: TaskRecords,
    ) -> None:
        assert run.progress is not None
        self.config = config
        self.run = run
        self.progress: Progress = run.progress
        self.status = status
        self.records = records
        self.writes = not (run.settings.dry_run or config.getoption("collectonly"))
        self.started: dict[str, float] = {}  # local id -> time.monotonic()
        self.properties: dict[str, dict[str, Any]] = {}  # local id -> report properties
        self.announced: set[int] = set()  # ordinals whose start was announced
        self.finished_tasks: set[str] = set()  # task keys passed or done
        self.workers = 0
        self.nodeids: dict[str, str] = {}  # local id -> node id of the selected steps
        self.distributed = False
        self.session: pytest.Session | None = None
        self.interrupted: list[str] | None = None  # steps an interrupt stopped, once known
        self.interrupted_props: dict[str, Any] = {}  # what the interrupted agent reported
        self.state_error: str | None = None  # why a status file could not be written
        self.pending = Throttle(self._write_pending, PENDING_INTERVAL)
        self.pending_count = -1  # how many tasks were finished when pending was last written

    # -- hooks ---------------------------------------------------------------

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        """Serial runs: the selection is what remains after -k, -m and friends; the items
        run in start order (see :mod:`pytest_roadmap.order`)."""
        self.select(item.nodeid for item in items)
        position = {step.local_id: i for i, step in enumerate(self.progress.selected)}
        if all(local_id_of(item.nodeid) in position for item in items):
            items.sort(key=lambda item: position[local_id_of(item.nodeid)])

    @pytest.hookimpl(trylast=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """Our progress lines replace pytest's dots, which would interleave with them."""
        self.session = session
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None and self.config.get_verbosity() == 0:
            reporter.showfspath = False

    def pytest_report_teststatus(self, report: pytest.TestReport) -> tuple[str, str, str] | None:
        """No dot or letter per item when our progress lines show the outcomes."""
        if self.config.get_verbosity() != 0 or local_id_of(report.nodeid) not in self.run.steps:
            return None
        if report.when == "call" or (report.when == "setup" and not report.passed):
            return report.outcome, "", report.outcome.upper()
        return None

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        step = self.run.steps.get(local_id_of(nodeid))
        if step is None or step.kind == "commit" or self.progress.skip_reason(step):
            return
        self.started[step.local_id] = time.monotonic()
        self._announce_group(step)
        if step.kind == "task" and step.task is not None:
            self._line(f"{step.task.id} started: {step.task.title}")
        self._write_progress()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        step = self.run.steps.get(local_id_of(report.nodeid))
        if step is None:
            return
        props = self.properties.setdefault(step.local_id, {})
        props.update(dict(report.user_properties))
        outcome = report_outcome(report)
        if outcome is not None and self.progress.outcome(step) != "failed":
            self._settle(step, outcome, report, props)
        if report.when not in ("setup", "call"):
            self._finish(step)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, exitstatus: int) -> None:
        """Account for steps xdist never ran; nothing stays "in progress" afterwards."""
        if self.distributed and exitstatus != pytest.ExitCode.INTERRUPTED:
            for step in list(self.progress.unresolved()):
                if step.local_id not in self.nodeids:
                    continue  # never collected by a worker (an empty selection)
                reason = self.progress.skip_reason(step) or "not run: the run stopped early"
                self.report_skip(self.nodeids[step.local_id], step, reason)
        if exitstatus == pytest.ExitCode.INTERRUPTED:
            self._record_interrupted()
        self.started.clear()
        self._write_progress(flush=True)
        if self.state_error and self.session is not None and exitstatus == pytest.ExitCode.OK:
            self.session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        """Serial runs: keep the interrupted agent's log and session id for its record."""
        from pytest_roadmap.agent import interrupted_result

        result = interrupted_result(excinfo.value)
        if result is not None:
            log = result.log_path
            with contextlib.suppress(ValueError):
                log = log.relative_to(self.run.settings.project_dir)
            self.interrupted_props = {"log": str(log)}
            if result.session_id:
                self.interrupted_props["session_id"] = result.session_id

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.interrupted:
            terminalreporter.write_line(
                f"Interrupted: {', '.join(self.interrupted)} did not finish (listed in "
                "status/interrupted_tasks.txt); the next run runs them again"
            )
        elif self.interrupted is not None:
            terminalreporter.write_line("Interrupted: no task was running")
        if self.state_error:
            terminalreporter.write_line(f"[roadmap] error: {self.state_error}")

    def _record_interrupted(self) -> None:
        """What was running: cache record "interrupted", status/interrupted_tasks.txt."""
        names = []
        order = {step.local_id: index for index, step in enumerate(self.run.plan.steps)}
        for local in sorted(self.started, key=order.__getitem__):
            step = self.run.steps[local]
            if step.group is None or self.progress.outcome(step) is not None:
                continue  # settled before the interrupt: its record stands
            name = step.task.id if step.task is not None else "gate"
            names.append(f"{group_key(step.phase, step.group)}:{name}")
            if step.task is not None and self.writes:
                record = {
                    "outcome": "interrupted",
                    "digest": task_digest(step.task),
                    "finished": _now(),
                    **self.properties.get(local, {}),
                    **(self.interrupted_props if len(self.started) == 1 else {}),
                }
                self.records.save(task_key(step.phase, step.group, step.task), record)
        self.interrupted = names
        if self.writes:
            self._guarded(lambda: self.status.write_interrupted(names))

    def _guarded(self, write: Callable[[], None]) -> None:
        """Run a status file write; an OSError stops the run with one clear line."""
        try:
            write()
        except OSError as exc:
            if self.state_error is not None:
                return
            self.state_error = write_error(exc, self.status.status_dir, self.status.project_dir)
            self.progress.stop(self.state_error)
            self._line(f"stopping: {self.state_error}; no further task will start")

    def report_skip(self, nodeid: str, step: Step, reason: str) -> None:
        """Report a step as skipped without running it (the xdist scheduler's skips)."""
        path = nodeid.split("::", 1)[0]
        location = (path, step.line - 1, step.label)
        hook = self.config.hook
        hook.pytest_runtest_logstart(nodeid=nodeid, location=location)
        skipped = (path, step.line, f"Skipped: {reason}")
        hook.pytest_runtest_logreport(
            report=pytest.TestReport(nodeid, location, {}, "skipped", skipped, "setup")
        )
        hook.pytest_runtest_logreport(
            report=pytest.TestReport(nodeid, location, {}, "passed", None, "teardown")
        )
        hook.pytest_runtest_logfinish(nodeid=nodeid, location=location)

    # -- the rest ------------------------------------------------------------

    def select(self, nodeids: Iterable[str]) -> None:
        """Tell progress which steps this run selected, each group's tasks in start order."""
        from pytest_roadmap import order

        self.nodeids = {local_id_of(nodeid): nodeid for nodeid in nodeids}
        selected = [s for s in self.run.plan.steps if s.local_id in self.nodeids]
        mode = self.run.settings.order
        estimates = {} if mode == "roadmap" else order.estimates(self.run.roadmap, self.records.get)
        self.progress.selected = tuple(order.dispatch_order(selected, estimates, mode))
        if self.run.settings.dry_run or self.config.getoption("collectonly"):
            self._show_order(estimates, mode)
        if self.distributed and self.session is not None:
            self.session.testscollected = len(self.nodeids)  # not counting the dispatch pad

    def _show_order(self, estimates: dict[str, Any], mode: str) -> None:
        """--collect-only and dry runs: each group's start order and the estimates used."""
        from pytest_roadmap import order

        groups: dict[int, list[Step]] = {}
        for step in self.run.plan.steps:
            runs = step.local_id in self.nodeids and not self.progress.static_skip(step)
            if step.kind == "task" and runs:
                groups.setdefault(step.ordinal, []).append(step)
        for tasks in groups.values():
            if len(tasks) > 1:
                assert tasks[0].group is not None
                label = group_label(tasks[0].phase, tasks[0].group)
                text = order.describe(tasks, estimates, mode)
                self._line(f"{label} start order ({mode}): {text}")

    def distribute(self) -> None:
        """xdist runs the items; the scheduler reports what it never sends."""
        self.distributed = True

    def start_run(self) -> None:
        """Write the plan and the initial progress files."""
        for phase, group, task in self.run.roadmap.tasks():
            local = f"phase{phase.number}::group{group.id}::{task.id}"
            if self.progress.static_skip(self.run.steps[local]):
                self.finished_tasks.add(task_key(phase, group, task))
        budget = self.run.settings.run_budget_usd
        if budget is not None and self.records.spent() >= budget:
            self._stop_for_budget(budget, self.records.spent())
        if self.writes:
            try:
                self.status.write_interrupted([])
                self.status.write_plan(self.run.roadmap)
            except OSError as exc:
                status = self.status
                raise pytest.UsageError(
                    write_error(exc, status.status_dir, status.project_dir)
                ) from None
            self._write_progress(flush=True)

    def _settle(
        self, step: Step, outcome: Outcome, rep: pytest.TestReport, props: dict[str, Any]
    ) -> None:
        self.progress.record(step, outcome)
        if "dry_run" in props:
            name = step.task.id if step.task is not None else step.label
            self._line(f"{name} {props['dry_run']}")
        if "systemic" in props and self.progress.stopped is None:
            self.progress.stop(f"systemic agent failure: {props['systemic']}")
            self._line(f"stopping: {self.progress.stopped}; no further task will start")
        if "warning" in props:
            self._line(f"{step.label}: warning: {props['warning']}")
        if step.kind == "task":
            self._task_settled(step, outcome, rep, props)
        elif step.kind == "gate" and outcome == "passed":
            self._group_complete(step)
        elif step.kind == "gate" and self.progress.static_skip(step) == GROUP_DONE_IN_ROADMAP:
            self._group_complete(step, DONE_IN_ROADMAP)
        elif step.kind == "commit" and outcome == "passed" and props.get("note") == NOTHING:
            self._line(f"{step.label}: {NOTHING}, no commit made")
        elif outcome == "failed":
            reason = _first_line(rep)
            self._line(
                reason if reason.startswith(step.label) else f"{step.label} failed: {reason}"
            )

    def _task_settled(
        self, step: Step, outcome: Outcome, rep: pytest.TestReport, props: dict[str, Any]
    ) -> None:
        assert step.group is not None and step.task is not None
        key = task_key(step.phase, step.group, step.task)
        elapsed = time.monotonic() - self.started.get(step.local_id, time.monotonic())
        if outcome == "passed":
            self.finished_tasks.add(key)
        cost = props.get("cost_usd")
        if isinstance(cost, (int, float)) and cost > 0 and self.writes:
            self._spend(float(cost))
        if outcome != "skipped" and self.writes:
            record = {
                "outcome": outcome,
                "digest": task_digest(step.task),
                "finished": _now(),
                **{k: v for k, v in props.items() if k != "dry_run"},
            }
            self.records.save(key, record)
        if outcome == "skipped":
            return
        extra = cost_and_turns(props)
        reason = "" if outcome == "passed" else f": {_first_line(rep)}"
        self._line(f"{step.task.id} {outcome} in {elapsed:.1f}s{extra}{reason}")

    def _spend(self, usd: float) -> None:
        """Count an agent's cost; past the run budget, no further task starts."""
        total = self.records.add_spent(usd)
        budget = self.run.settings.run_budget_usd
        if budget is not None and total >= budget and self.progress.stopped is None:
            self._stop_for_budget(budget, total)

    def _stop_for_budget(self, budget: float, total: float) -> None:
        self.progress.stop(f"run budget of ${budget:.2f} reached (${total:.4f} spent)")
        self._line(f"stopping: {self.progress.stopped}; running tasks finish, no new task starts")

    def _group_complete(self, gate: Step, why: str | None = None) -> None:
        """Record a group complete: its gate passed, or (``why``) it had nothing to do."""
        assert gate.group is not None
        if why is None:
            self._line(f"{gate.label} passed: group complete")
        else:
            self._line(f"{group_label(gate.phase, gate.group)} complete: {why}, no agent or gate")
        if not self.writes:
            return
        tasks = []
        for task in gate.group.tasks:
            local = f"phase{gate.phase.number}::group{gate.group.id}::{task.id}"
            props = self.properties.get(local) or self.records.get(
                task_key(gate.phase, gate.group, task)
            )
            reason = self.progress.static_skip(self.run.steps[local])
            tasks.append(TaskLine.of(task, reason, props))
        text = status_markdown(
            self.run.settings.roadmap.name,
            gate.phase,
            gate.group,
            tasks,
            self.properties.get(gate.local_id, {}),
        )
        group = gate.group
        self._guarded(lambda: self.status.mark_complete(gate.phase, group, text))
        for task in gate.group.tasks:
            key = task_key(gate.phase, gate.group, task)
            self.finished_tasks.add(key)
            record = self.records.get(key)
            if record:  # a rolled-back group runs its tasks again, not "passed earlier"
                self.records.save(key, {**record, "group_complete": True})
        self._write_progress(flush=True)  # up to date before a phase commit stages it

    def _finish(self, step: Step) -> None:
        if self.started.pop(step.local_id, None) is not None:
            self._write_progress()

    def _write_progress(self, *, flush: bool = False) -> None:
        """in_progress_tasks.txt at once; pending_tasks.txt when it changed, throttled.

        Rewriting every pending task on every task end made a run quadratic in the size of
        the roadmap: the pending file is written at most once per PENDING_INTERVAL during
        the run (a timer writes the last change), and at once by ``flush``.
        """
        if not self.writes:
            return
        in_progress = []
        for local in self.started:
            step = self.run.steps[local]
            assert step.group is not None
            name = step.task.id if step.task is not None else "gate"
            in_progress.append(f"{group_key(step.phase, step.group)}:{name}")
        self._guarded(lambda: self.status.write_in_progress(in_progress))
        if len(self.finished_tasks) != self.pending_count:
            self._guarded(self.pending.request)
        if flush:
            self._guarded(self.pending.flush)

    def _write_pending(self) -> None:
        finished = set(self.finished_tasks)  # a copy: a timer thread may run this
        self.pending_count = len(finished)
        self.status.write_pending(
            f"{key}:{task.title}"
            for phase, group, task in self.run.roadmap.tasks()
            if (key := task_key(phase, group, task)) not in finished
        )

    def _announce_group(self, step: Step) -> None:
        if step.ordinal in self.announced or step.group is None:
            return
        self.announced.add(step.ordinal)
        group = step.group
        count = len(group.tasks)
        agents = self.workers or 1
        title = f": {group.title}" if group.title else ""
        self._line(
            f"Phase {step.phase.number} · Group {group.id}{title} — "
            f"{count} task{'s' * (count != 1)}, {agents} agent{'s' * (agents != 1)}"
        )

    def _line(self, text: str) -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None and self.config.get_verbosity() >= 0:
            reporter.write_line(f"[roadmap] {text}")


def _first_line(rep: pytest.TestReport) -> str:
    text = str(rep.longrepr or "").strip()
    return text.splitlines()[0] if text else rep.outcome


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
