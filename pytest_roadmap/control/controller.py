"""The controller's view of the run: outcomes, status files, cache records, progress lines.

Registered only in the controlling process (serial runs, or xdist's controller).
Workers report through ``pytest_runtest_logreport``; only this class writes state.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from typing import Any

import pytest

from pytest_roadmap.agents import limits
from pytest_roadmap.agents import models
from pytest_roadmap.agents.limits import UsageLimit
from pytest_roadmap.channel import worker_count
from pytest_roadmap.context import RoadmapRun
from pytest_roadmap.control.notify import Notifier
from pytest_roadmap.control.notify import notify
from pytest_roadmap.control.reserve import UsageReserve
from pytest_roadmap.control.roadmap_guard import RoadmapGuard
from pytest_roadmap.control.roadmap_guard import blame
from pytest_roadmap.control.state import StatusFiles
from pytest_roadmap.control.status_md import TaskLine
from pytest_roadmap.control.status_md import cost_and_turns
from pytest_roadmap.control.status_md import status_markdown
from pytest_roadmap.control.writable import write_error
from pytest_roadmap.model.estimate import run_estimate
from pytest_roadmap.model.facts import StepFacts
from pytest_roadmap.model.facts import facts_of
from pytest_roadmap.model.plan import DONE_IN_ROADMAP
from pytest_roadmap.model.plan import GROUP_DONE_IN_ROADMAP
from pytest_roadmap.model.plan import Outcome
from pytest_roadmap.model.plan import Progress
from pytest_roadmap.model.plan import Step
from pytest_roadmap.model.plan import group_label
from pytest_roadmap.model.plan import local_id
from pytest_roadmap.model.plan import local_id_of
from pytest_roadmap.model.plan import task_digest
from pytest_roadmap.model.plan import task_key
from pytest_roadmap.model.records import TaskRecord
from pytest_roadmap.model.records import TaskRecords
from pytest_roadmap.paths import shown
from pytest_roadmap.resources import human_bytes
from pytest_roadmap.segments import Segment
from pytest_roadmap.settings import flag
from pytest_roadmap.settings import resume_command
from pytest_roadmap.steps.unchecked import NOTHING_TO_CHECK
from pytest_roadmap.steps.unchecked import no_gate_commands
from pytest_roadmap.terminal import say
from pytest_roadmap.throttle import Throttle
from pytest_roadmap.workspace import project_tests
from pytest_roadmap.workspace.git import WorkspaceError

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
        self.facts: dict[str, StepFacts] = {}  # local id -> what its reports said
        self.announced: set[int] = set()  # ordinals whose start was announced
        self.finished_tasks: set[str] = set()  # task keys passed or done
        self.workers = 0
        self.nodeids: dict[str, str] = {}  # local id -> node id of the selected steps
        self.distributed = False
        self.session: pytest.Session | None = None
        self.interrupted: list[str] | None = None  # steps an interrupt stopped, once known
        #: local id -> what a running task's word said of its session (a usage limit met)
        self.sessions: dict[str, TaskRecord] = {}
        #: what the interrupted agent of a serial run said of its session
        self.interrupted_session = TaskRecord()
        self.state_error: str | None = None  # why a status file could not be written
        self.pending = Throttle(self._write_pending, PENDING_INTERVAL)
        self.pending_count = -1  # how many tasks were finished when pending was last written
        self.limit_waiting: dict[str, str] = {}  # local id -> the limit it waits for
        self.warned_limits: set[str] = set()  # kinds of usage limit announced as close
        self.notifier: Notifier | None = None
        self.group_failed: set[int] = set()  # ordinals of groups announced as failed
        self.limit_stopped: list[str] = []  # PHASE_1:A:A1 of tasks a usage limit stopped
        self.reserve = UsageReserve(config, run, self._line, self._notify, self._stop_for_limit)
        self.guard: RoadmapGuard | None = None  # the roadmap as the run began (issue 27)
        self.put_back: list[str] = []  # the lines saying an agent's roadmap edit was put back

    # -- hooks ---------------------------------------------------------------

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        """Serial runs: the selection is what remains after -k, -m and friends; the items
        run in start order (see :mod:`pytest_roadmap.model.order`)."""
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

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> None:
        """Serial runs: a task waits while the usage reserve holds new tasks."""
        step = self.run.steps.get(local_id_of(item.nodeid))
        if step is not None and step.kind == "task" and not self.progress.skip_reason(step):
            self.reserve.wait_before_task()

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
        facts = facts_of(report.user_properties)
        if report.when == "call" or step.local_id not in self.facts:
            self.facts[step.local_id] = facts
        outcome = report_outcome(report)
        if outcome is not None and self.progress.outcome(step) != "failed":
            self._settle(step, outcome, report, self.facts[step.local_id])
        if report.when not in ("setup", "call"):
            self._guard_roadmap(step)
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
        self._guard_roadmap(None)
        if exitstatus == pytest.ExitCode.INTERRUPTED:
            self._record_interrupted()
        elif self.limit_stopped and self.writes:
            self._guarded(lambda: self.status.write_interrupted(self.limit_stopped))
        self.started.clear()
        self._write_progress(flush=True)
        stopped = self.state_error or self.reserve.stopped
        if stopped and self.session is not None and exitstatus == pytest.ExitCode.OK:
            self.session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if self.writes:
            self._notify("run_finished", self._finished_message(exitstatus))
        if self.notifier is not None:
            self.notifier.close()
        if self.run.monitor is not None:
            self.run.monitor.stop()

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        """Serial runs: keep the interrupted agent's log and session id for its record."""
        from pytest_roadmap.agents.run import interrupted_result

        result = interrupted_result(excinfo.value)
        if result is not None:
            log = shown(result.log_path, self.run.settings.project_dir)
            self.interrupted_session = TaskRecord(log=log, session_id=result.session_id)

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
        for problem in self.notifier.take_problems() if self.notifier is not None else ():
            terminalreporter.write_line(f"[roadmap] warning: {problem}")
        for line in self.put_back:
            terminalreporter.write_line(f"[roadmap] warning: {line}")

    def _record_interrupted(self) -> None:
        """What was running: cache record "interrupted", status/interrupted_tasks.txt."""
        names = []
        order = {step.local_id: index for index, step in enumerate(self.run.plan.steps)}
        for local in sorted(self.started, key=order.__getitem__):
            step = self.run.steps[local]
            if step.group is None or self.progress.outcome(step) is not None:
                continue  # settled before the interrupt: its record stands
            names.append(step.status_key)
            if step.task is not None and self.writes:
                facts = self.facts.get(local) or StepFacts()
                record = TaskRecord.of("interrupted", task_digest(step.task), facts)
                record = record.merged(self.sessions.get(local, TaskRecord()))
                if len(self.started) == 1:
                    record = record.merged(self.interrupted_session)
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
        from pytest_roadmap.model import order

        self.nodeids = {local_id_of(nodeid): nodeid for nodeid in nodeids}
        selected = [s for s in self.run.plan.steps if s.local_id in self.nodeids]
        mode = self.run.settings.order
        estimates = {} if mode == "roadmap" else order.estimates(self.run.roadmap, self.records.get)
        self.progress.selected = tuple(order.dispatch_order(selected, estimates, mode))
        if self.run.settings.dry_run or self.config.getoption("collectonly"):
            self._show_order(estimates, mode)
        if self.run.settings.dry_run:
            tasks = [s for s in selected if s.kind == "task" and not self.progress.static_skip(s)]
            for line in run_estimate(tasks, self.records.get, worker_count(self.config)):
                self._line(line)
        if self.distributed and self.session is not None:
            self.session.testscollected = len(self.nodeids)  # not counting the dispatch pad

    def _show_order(self, estimates: dict[str, Any], mode: str) -> None:
        """--collect-only and dry runs: each group's start order and the estimates used."""
        from pytest_roadmap.model import order

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
        if self.run.monitor is not None:
            self.run.monitor.skip_children = True  # the workers; the agents are below them

    def start_run(self) -> None:
        """Write the plan and the initial progress files."""
        models.check(self.run.settings, self.run.roadmap)
        if (unknown := self.status.unknown_completed(self.run.roadmap)) is not None:
            self._line(f"warning: {unknown}")
        for phase, group, task in self.run.roadmap.tasks():
            if self.progress.static_skip(self.run.steps[local_id(phase, group, task.id)]):
                self.finished_tasks.add(task_key(phase, group, task))
        budget = self.run.settings.run_budget_usd
        if budget is not None and self.records.spent() >= budget:
            self._stop_for_budget(budget, self.records.spent())
        if self.run.monitor is not None:
            self.run.monitor.start()
        if self.writes:
            settings = self.run.settings
            self.guard = RoadmapGuard(settings.roadmap, settings.status_dir, settings.project_dir)
            with contextlib.suppress(WorkspaceError):  # the groups' test baselines of this run
                project_tests.clear_baselines(settings.project_dir)
            unchecked = no_gate_commands(settings)
            if unchecked is not None:
                self._line(unchecked)
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
        self, step: Step, outcome: Outcome, rep: pytest.TestReport, facts: StepFacts
    ) -> None:
        self.progress.record(step, outcome)
        if facts.dry_run is not None:
            self._line(f"{step.name} {facts.dry_run}")
        if facts.systemic and self.progress.stopped is None:
            self._stop(f"systemic agent failure: {facts.failure}")
        if facts.limit_stop is not None and self.progress.stopped is None:
            self._stop_for_limit(facts.limit_stop)
        for warning in facts.warnings:
            self._line(f"{step.label}: warning: {warning}")
        if step.kind == "task":
            self._task_settled(step, outcome, rep, facts)
        elif step.kind == "gate" and outcome == "passed":
            self._group_complete(step)
        elif step.kind == "gate" and self.progress.static_skip(step) == GROUP_DONE_IN_ROADMAP:
            self._group_complete(step, DONE_IN_ROADMAP)
        elif step.kind == "commit" and outcome == "passed" and facts.nothing_to_commit:
            self._line(f"{step.label}: nothing to commit, no commit made")
        elif outcome == "failed":
            reason = _first_line(rep)
            line = reason if reason.startswith(step.label) else f"{step.label} failed: {reason}"
            self._line(line)
            if step.kind == "gate":
                self._group_failed(step, line)
        elif step.kind == "commit" and outcome == "passed" and self.writes:
            self._notify("phase_committed", f"Phase {step.phase.number} committed", step)
        if step.kind == "gate" and outcome == "skipped":
            reason = self.progress.skip_reason(step) or ""
            if reason.startswith("tasks failed"):
                self._group_failed(step, f"{step.label} not run: {reason}")

    def _task_settled(
        self, step: Step, outcome: Outcome, rep: pytest.TestReport, facts: StepFacts
    ) -> None:
        assert step.group is not None and step.task is not None
        key = task_key(step.phase, step.group, step.task)
        elapsed = time.monotonic() - self.started.get(step.local_id, time.monotonic())
        if outcome == "passed":
            self.finished_tasks.add(key)
        cost = facts.cost_usd
        if cost is not None and cost > 0 and self.writes:
            self._spend(cost)
        stopped = facts.limit_stop is not None  # not failed: it runs first next time
        if stopped:
            self.limit_stopped.append(key)
        if outcome != "skipped" and self.writes:
            recorded = "interrupted" if stopped else outcome
            self.records.save(key, TaskRecord.of(recorded, task_digest(step.task), facts))
        if outcome == "skipped":
            return
        extra = cost_and_turns(facts)
        reason = "" if outcome == "passed" else f": {_first_line(rep)}"
        self._line(f"{step.task.id} {outcome} in {elapsed:.1f}s{extra}{reason}")

    def _spend(self, usd: float) -> None:
        """Count an agent's cost; past the run budget, no further task starts."""
        total = self.records.add_spent(usd)
        budget = self.run.settings.run_budget_usd
        if budget is not None and total >= budget and self.progress.stopped is None:
            self._stop_for_budget(budget, total)

    def _stop_for_budget(self, budget: float, total: float) -> None:
        self._stop(
            f"run budget of ${budget:.2f} reached (${total:.4f} spent)",
            "running tasks finish, no new task starts",
        )

    def _stop(self, reason: str, then: str = "no further task will start") -> None:
        """Let nothing more start; say so, and tell the notify commands."""
        self.progress.stop(reason)
        self._line(f"stopping: {reason}; {then}")
        self._notify("run_stopped", f"roadmap run stopped: {reason}")

    def _stop_for_limit(self, reason: str) -> None:
        """A usage limit resets too late to wait for: stop, and say how to go on."""
        command = " ".join(resume_command(self.config.invocation_params.args, width=10_000))
        self._stop(reason, f"resume after the reset with: {command}")

    # -- word from running items ---------------------------------------------

    def on_message(self, message: Mapping[str, Any]) -> None:
        """A running item's word (see channel.py): a usage limit met, over, or close."""
        kind = message.get("roadmap")
        step = self.run.steps.get(str(message.get("step")))
        if kind == "limit" and step is not None:
            self._limit_met(step, message)
        elif kind == "limit_over" and step is not None:
            self._limit_over(step)
        elif kind == "limit_warning":
            self._limit_close(_usage_limit(message))
        elif kind == "usage":
            self.reserve.on_usage(message)
        elif kind == "wake":
            self.reserve.check(time.time())

    def _limit_met(self, step: Step, message: Mapping[str, Any]) -> None:
        limit = _usage_limit(message)
        until = float(message["until"])
        # an interrupt during the wait keeps the session for the next run
        self.sessions[step.local_id] = TaskRecord(
            session_id=str(message.get("session_id") or "") or None,
            log=str(message.get("log") or "") or None,
            limit_type=limit.kind or "unknown",
        )
        self.limit_waiting[step.local_id] = limit.label
        now = time.time()
        if self.progress.paused(now) and until <= (self.progress.paused_until or 0) + 60:
            return  # the pause we announced already
        self.progress.pause(until, limit.label)
        self.run.waits.append(Segment("limit_wait", now, until, limit.label))
        if limit.resets_at is not None and limit.resets_at > now:
            when = limits.local_time(limit.resets_at, now)
            wait = f"waiting until {when} (in {limits.until_text(limit.resets_at - now)})"
        else:
            when = limits.local_time(until, now)
            wait = f"{limits.describe_reset(limit, now)}: trying again at {when}"
        line = f"{limit.label} reached: {wait}"
        self._line(f"{line}; Ctrl-C stops")
        self._notify("limit_wait", line, step)

    def _limit_over(self, step: Step) -> None:
        self.limit_waiting.pop(step.local_id, None)
        now = time.time()
        if self.progress.paused_until is None or self.progress.paused(now):
            return  # over already, or another task still waits for a later reset
        label = self.progress.pause_reason
        self.progress.resume()
        self._end_wait("limit_wait", now)
        line = f"{label} over: the run goes on"
        self._line(line)
        self._notify("limit_resumed", line, step)

    def _limit_close(self, limit: UsageLimit) -> None:
        if limit.kind in self.warned_limits:
            return
        self.warned_limits.add(limit.kind)
        now = time.time()
        resets = f": {limits.describe_reset(limit, now)}" if limit.resets_at else ""
        self.progress.warning = f"{limit.label} close{resets}"
        self._line(f"{limit.label} almost reached{resets}; the run goes on")

    # -- the machine -----------------------------------------------------------

    def on_memory_hold(self, step: Step, available: int, memfree: int) -> None:
        """The scheduler holds ``step`` back: less memory available than ``settings.memfree``."""
        self._line(
            f"memory: {human_bytes(available)} available, under {flag('memfree')} "
            f"{human_bytes(memfree)}: {step.name} starts when there is room or no agent runs"
        )
        now = time.time()
        self.run.waits.append(Segment("memory_wait", now, now, f"{step.name} waits for memory"))

    def on_memory_room(self, available: int) -> None:
        self._end_wait("memory_wait", time.time())
        self._line(f"memory: {human_bytes(available)} available: agents start again")

    def _end_wait(self, kind: str, now: float) -> None:
        """The run's last wait, when of ``kind``, ends ``now`` (its expected end until then)."""
        if self.run.waits and self.run.waits[-1].kind == kind:
            last = self.run.waits[-1]
            self.run.waits[-1] = Segment(kind, last.start, now, last.note)

    def _group_resources(self, gate: Step) -> None:
        """One line with the worst the machine saw while the group ran."""
        monitor = self.run.monitor
        if monitor is None:
            return
        monitor.sample()  # a group quicker than the monitor's interval still gets its line
        worst = monitor.take_worst()
        if worst is not None:
            self._line(
                f"{gate.label} machine: cpu up to {worst.cpu_percent:.0f}%, "
                f"{human_bytes(worst.available)} available at least, "
                f"agents up to {human_bytes(worst.agents_rss)}"
            )

    def _group_failed(self, gate: Step, line: str) -> None:
        if gate.ordinal in self.group_failed or not self.writes:
            return
        self.group_failed.add(gate.ordinal)
        self._group_resources(gate)
        self._notify("group_failed", line, gate)

    def _notify(self, event: str, message: str, step: Step | None = None) -> None:
        phase = step.phase.number if step is not None else None
        group = step.group.id if step is not None and step.group is not None else None
        notify(self.config, event, message, phase, group)

    def _finished_message(self, exitstatus: int | pytest.ExitCode) -> str:
        outcomes = [self.progress.outcome(s) for s in self.progress.selected if s.kind == "task"]
        cost = sum(
            facts.cost_usd or 0.0
            for local, facts in self.facts.items()
            if self.run.steps[local].kind == "task"
        )
        how = "interrupted" if exitstatus == pytest.ExitCode.INTERRUPTED else "finished"
        return (
            f"roadmap run {how}: {outcomes.count('passed')} passed, "
            f"{outcomes.count('failed')} failed, {outcomes.count('skipped')} skipped; "
            f"cost ${cost:.4f}"
        )

    def _group_complete(self, gate: Step, why: str | None = None) -> None:
        """Record a group complete: its gate passed, or (``why``) it had nothing to do."""
        assert gate.group is not None
        if why is None:
            unchecked = (self.facts.get(gate.local_id) or StepFacts()).unchecked
            how = (
                f"{NOTHING_TO_CHECK}; group complete, unchecked" if unchecked else "group complete"
            )
            self._line(f"{gate.label} passed: {how}")
            self._group_resources(gate)
        else:
            self._line(f"{group_label(gate.phase, gate.group)} complete: {why}, no agent or gate")
        if not self.writes:
            return
        tasks = []
        for task in gate.group.tasks:
            record = self.records.get(task_key(gate.phase, gate.group, task))
            reason = self.progress.static_skip(
                self.run.steps[local_id(gate.phase, gate.group, task.id)]
            )
            tasks.append(TaskLine.of(task, reason, record))
        gate_facts = self.facts.get(gate.local_id) or StepFacts()
        text = status_markdown(
            self.run.settings.roadmap.name, gate.phase, gate.group, tasks, gate_facts.commands
        )
        group = gate.group
        self._guarded(lambda: self.status.mark_complete(gate.phase, group, text))
        count = len(gate.group.tasks)
        self._notify("group_passed", f"{gate.label} passed: {count} task{'s' * (count != 1)}", gate)
        for task in gate.group.tasks:
            key = task_key(gate.phase, gate.group, task)
            self.finished_tasks.add(key)
            record = self.records.get(key)
            if record.outcome is not None:  # a rolled-back group runs its tasks again
                self.records.save(key, record.completed_with_group())
        self._write_progress(flush=True)  # up to date before a phase commit stages it

    def _guard_roadmap(self, step: Step | None) -> None:
        """After a task or gate (``None``: at the end), put back the roadmap if an agent
        changed it, and say so (see control/roadmap_guard.py)."""
        if self.guard is None:
            return
        running = [self.run.steps[local] for local in self.started]
        names, who = blame(step, running)
        try:
            line = self.guard.check(names, who)
        except OSError as exc:
            line = f"{who} changed {self.guard.path.name}, and it could not be put back: {exc}"
            self.progress.stop(line)
        if line is not None:
            self.put_back.append(line)
            self._line(line)

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
        in_progress = [self.run.steps[local].status_key for local in self.started]
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
        if self.run.monitor is not None:
            self.run.monitor.take_worst()  # the group's worst starts now
        group = step.group
        count = len(group.tasks)
        agents = self.workers or 1
        title = f": {group.title}" if group.title else ""
        self._line(
            f"Phase {step.phase.number} · Group {group.id}{title} — "
            f"{count} task{'s' * (count != 1)}, {agents} agent{'s' * (agents != 1)}"
        )

    def _line(self, text: str) -> None:
        """A progress line, after the warnings of notify commands that failed meanwhile
        (with -q they wait for the terminal summary)."""
        quiet = self.config.get_verbosity() < 0
        problems = self.notifier.take_problems() if self.notifier and not quiet else []
        say(self.config, *(f"warning: {problem}" for problem in problems), text)


def _usage_limit(message: Mapping[str, Any]) -> UsageLimit:
    resets = message.get("resets_at")
    return UsageLimit(
        kind=str(message.get("kind") or ""),
        resets_at=float(resets) if isinstance(resets, (int, float)) else None,
        text=str(message.get("text") or ""),
    )


def _first_line(rep: pytest.TestReport) -> str:
    text = str(rep.longrepr or "").strip()
    return text.splitlines()[0] if text else rep.outcome
