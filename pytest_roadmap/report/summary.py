"""The end-of-run summary: one row per step, what was skipped and why, how to resume."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import pytest

from pytest_roadmap.context import RoadmapRun
from pytest_roadmap.model.facts import StepFacts
from pytest_roadmap.model.facts import facts_of
from pytest_roadmap.model.plan import Outcome
from pytest_roadmap.model.plan import Step
from pytest_roadmap.model.plan import local_id_of
from pytest_roadmap.model.usage import usage_text
from pytest_roadmap.report import spend
from pytest_roadmap.report.evidence import evidence_lines
from pytest_roadmap.report.evidence import with_evidence
from pytest_roadmap.settings import resume_command
from pytest_roadmap.steps.unchecked import NOTHING_TO_CHECK
from pytest_roadmap.text import WIDTH
from pytest_roadmap.text import dollars
from pytest_roadmap.text import fit
from pytest_roadmap.text import seconds

REASON_ORDER = (
    "done in ROADMAP.md",
    "already complete",
    "passed in an earlier run",
    "blocked",
    "tasks failed",
    "not run",
)
NOT_SELECTED = "not selected (-k, -m or --deselect)"
#: skip reasons that mean "this still has to run": they call for the resume command
UNFINISHED = ("blocked", "tasks failed", "not run")


@dataclass
class StepResult:
    """What the reports of one step said: outcome, one-line reason, properties, time."""

    step: Step
    outcome: Outcome | None = None
    reason: str = ""
    facts: StepFacts = field(default_factory=StepFacts)
    report_time: float = 0.0

    def add(self, report: pytest.TestReport) -> None:
        """Fold in one setup, call or teardown report; the first failure wins."""
        if report.when == "call":
            self.facts = facts_of(report.user_properties)
        self.report_time += report.duration
        if report.failed:
            if self.outcome != "failed":
                self.outcome, self.reason = "failed", failure_line(report)
        elif report.skipped:
            if self.outcome is None:
                self.outcome, self.reason = "skipped", skip_line(report)
        elif report.when == "call" and self.outcome is None:
            self.outcome = "passed"

    @property
    def duration(self) -> float:
        """Agent time of a task, command time of a gate, else the reports' time."""
        duration = self.facts.duration_s
        return self.report_time if duration is None else duration

    @property
    def unfinished(self) -> bool:
        """Failed, never run, or skipped for a reason a re-run can fix."""
        return self.outcome in (None, "failed") or self.reason.startswith(UNFINISHED)


def failure_line(report: pytest.TestReport) -> str:
    """The first line of a failure: a roadmap failure's reason, or the exception's message."""
    crash = getattr(report.longrepr, "reprcrash", None)
    text = str(getattr(crash, "message", None) or report.longrepr or "").strip()
    return text.splitlines()[0] if text else "failed"


def skip_line(report: pytest.TestReport) -> str:
    """The reason of a skip report, without pytest's ``Skipped:`` prefix."""
    longrepr = report.longrepr
    text = str(longrepr[2]) if isinstance(longrepr, (tuple, list)) else str(longrepr or "")
    return text.removeprefix("Skipped: ").strip() or "skipped"


def group_column(step: Step) -> str:
    """``Phase 1 · Group A``, or ``Phase 1`` for a commit."""
    base = f"Phase {step.phase.number}"
    return f"{base} · Group {step.group.id}" if step.group is not None else base


def reason_heading(reason: str) -> str:
    """``blocked: X failed`` becomes ``blocked (X failed)``; other reasons stay."""
    head, sep, tail = reason.partition(": ")
    return f"{head} ({tail})" if sep else reason


def _reason_rank(reason: str) -> int:
    for rank, prefix in enumerate(REASON_ORDER):
        if reason.startswith(prefix):
            return rank
    return len(REASON_ORDER) + (reason == NOT_SELECTED)


@dataclass
class Totals:
    """Counts, cost and agent time of some tasks."""

    passed: int = 0
    failed: int = 0
    skipped: int = 0
    not_run: int = 0
    cost: float = 0.0
    agent_time: float = 0.0

    def add(self, result: StepResult) -> None:
        """Count one task."""
        if result.outcome == "passed":
            self.passed += 1
        elif result.outcome == "failed":
            self.failed += 1
        elif result.outcome == "skipped":
            self.skipped += 1
        else:
            self.not_run += 1
        self.cost += result.facts.cost_usd or 0.0
        if result.outcome in ("passed", "failed"):
            self.agent_time += result.duration

    def text(self) -> str:
        """``tasks 2 passed, 1 failed, 0 skipped; cost $0.0246; agent time 0.2s``."""
        counts = f"{self.passed} passed, {self.failed} failed, {self.skipped} skipped"
        if self.not_run:
            counts += f", {self.not_run} not run"
        return f"tasks {counts}; cost {dollars(self.cost)}; agent time {seconds(self.agent_time)}"


def summary_rows(results: Sequence[StepResult], width: int = WIDTH) -> list[str]:
    """The table: one row per step, a log line under each failure, a total after each group."""
    name_w, memory_w, time_w, turns_w, cost_w = 24, 7, 7, 5, 8
    group_w = max([len("group"), *(len(group_column(r.step)) for r in results)])
    indent = " " * (group_w + 2)
    model_w = spend.model_width(r.facts for r in results)  # 0: no task named its model
    numbers_w = memory_w + time_w + turns_w + cost_w + 8 + model_w
    outcome_w = width - group_w - name_w - numbers_w - 4
    out = [
        f"{'group':<{group_w}}  {'item':<{name_w}}  {'outcome':<{outcome_w}}  "
        f"{spend.model_cell('model', model_w)}"
        f"{'peak MB':>{memory_w}}  {'time':>{time_w}}  {'turns':>{turns_w}}  {'cost USD':>{cost_w}}"
    ]
    for index, result in enumerate(results):
        step = result.step
        name = f"{step.task.id} {step.task.title}" if step.task is not None else step.kind
        outcome: str = result.outcome or "not run"
        if result.reason:
            outcome = f"{outcome}: {result.reason}"
        elif result.facts.unchecked:
            outcome = f"{outcome}: {NOTHING_TO_CHECK} (unchecked)"
        outcome = with_evidence(outcome, result.facts)
        ran = result.outcome in ("passed", "failed")
        turns, cost = result.facts.num_turns, result.facts.cost_usd
        memory = result.facts.agent.peak_rss_mb if result.facts.agent else None
        numbers = (
            f"{spend.model_cell(spend.model_of(result.facts), model_w)}"
            f"{'' if memory is None else f'{float(memory):.0f}':>{memory_w}}  "
            f"{seconds(result.duration) if ran else '':>{time_w}}  "
            f"{'' if turns is None else turns:>{turns_w}}  "
            f"{dollars(None if cost is None else float(cost)):>{cost_w}}"
        )
        start = f"{group_column(step):<{group_w}}  {fit(name, name_w):<{name_w}}  "
        if numbers.strip():
            out.append(f"{start}{fit(outcome, outcome_w):<{outcome_w}}  {numbers}".rstrip())
        else:  # nothing to show on the right: the reason may use the whole line
            out.append(start + fit(outcome, outcome_w + numbers_w))
        if result.outcome == "failed" and result.facts.main_log:
            out.append(indent + fit(f"log: {result.facts.main_log}", width - len(indent)))
        following = results[index + 1].step.group if index + 1 < len(results) else None
        if step.kind == "gate" and step.group is not None and following is not step.group:
            totals = Totals()
            for other in results:
                if other.step.group is step.group and other.step.kind == "task":
                    totals.add(other)
            label = f"Group {step.group.id} total: {totals.text()}"
            out.append(indent + fit(label, width - len(indent)))
            if result.facts.unchecked:
                out.append(f"{indent}Group {step.group.id} unchecked: no gate commands")
    return out


def skipped_lines(
    results: Sequence[StepResult], not_selected: Sequence[Step], width: int = WIDTH
) -> list[str]:
    """What was skipped, grouped by reason: ``  blocked (X failed): C1, gate 2·C``."""
    by_reason: dict[str, list[str]] = {}
    for result in results:
        if result.outcome == "skipped":
            by_reason.setdefault(result.reason, []).append(result.step.name)
    if not_selected:
        by_reason[NOT_SELECTED] = [step.name for step in not_selected]
    out = []
    for reason in sorted(by_reason, key=_reason_rank):
        out += wrap_names(f"  {reason_heading(reason)}: ", by_reason[reason], width)
    return ["skipped, by reason:", *out] if out else []


def wrap_names(prefix: str, names: Sequence[str], width: int, max_lines: int = 4) -> list[str]:
    """``prefix`` and the comma-separated names, wrapped; at most ``max_lines`` lines."""
    if len(prefix) > width // 2:
        prefix = fit(prefix, width // 2 - 2) + ": "
    rows: list[list[str]] = [[]]
    used = len(prefix)
    for name in names:
        if rows[-1] and used + len(name) + 2 > width:
            rows.append([])
            used = 4
        rows[-1].append(name)
        used += len(name) + 2
    hidden = sum(len(row) for row in rows[max_lines:])
    rows = rows[:max_lines]
    leads = [prefix] + ["    "] * (len(rows) - 1)
    if hidden:
        while True:
            more = f"… and {hidden} more"
            text = leads[-1] + ", ".join([*rows[-1], more])
            if len(text) <= width or len(rows[-1]) <= 1:
                break
            rows[-1].pop()
            hidden += 1
        rows[-1].append(more)
    lines = [lead + ", ".join(row) for lead, row in zip(leads, rows, strict=True)]
    return [line + "," for line in lines[:-1]] + lines[-1:]


def limit_lines(results: Sequence[StepResult], width: int = WIDTH) -> list[str]:
    """Which tasks waited for a usage limit, and how long: ``A1 4h12m (five_hour), …``."""
    waits = []
    for result in results:
        agent = result.facts.agent
        waited, kind = (agent.limit_wait_s, agent.limit_type) if agent else (None, None)
        if isinstance(waited, (int, float)):
            waits.append(f"{result.step.name} {seconds(float(waited))} ({kind})")
    return wrap_names("waited for a usage limit: ", waits, width) if waits else []


def changed_tests_lines(results: Sequence[StepResult], width: int = WIDTH) -> list[str]:
    """``B2 changed 2 existing tests: test/base.test.js, …`` per step that did (issue 28)."""
    out = []
    for result in results:
        paths = result.facts.tests_changed
        if paths:
            count = f"{len(paths)} existing test{'s' * (len(paths) != 1)}"
            out += wrap_names(f"{result.step.name} changed {count}: ", paths, width)
    return out


class RunSummary:
    """Collects every report in the controlling process and prints the roadmap summary."""

    def __init__(self, config: pytest.Config, run: RoadmapRun) -> None:
        self.config = config
        self.run = run
        self.results: dict[str, StepResult] = {}  # local id -> result

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        step = self.run.steps.get(local_id_of(report.nodeid))
        if step is not None:
            self.results.setdefault(step.local_id, StepResult(step)).add(report)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.config.getoption("collectonly"):
            return
        lines = self.lines(self.config.get_verbosity())
        if lines:
            terminalreporter.write_sep("=", "roadmap summary")
            for line in lines:
                terminalreporter.write_line(line)

    def lines(self, verbosity: int) -> list[str]:
        """The summary's lines; only totals and the resume command below verbosity 0."""
        progress = self.run.progress
        selected = progress.selected if progress is not None else self.run.plan.steps
        chosen = {step.local_id for step in selected}
        in_roadmap_order = [
            s for s in self.run.plan.steps if s.local_id in chosen
        ]  # not start order
        results = [self.results.get(s.local_id) or StepResult(s) for s in in_roadmap_order]
        not_selected = [s for s in self.run.plan.steps if s.local_id not in chosen]
        if not results:
            return []
        totals = Totals()
        for result in results:
            if result.step.kind == "task":
                totals.add(result)
        out = []
        if verbosity >= 0:
            out += summary_rows(results)
            out += skipped_lines(results, not_selected)
            out += limit_lines(results)
            out += [text] if (text := usage_text(self.run.usage.values())) else []
            out += spend.cost_by_model(r.facts for r in results if r.step.kind == "task")
            out += evidence_lines(results)
            out += changed_tests_lines(results)
        out.append(f"run total: {totals.text()}")
        if any(r.unfinished for r in results) and not self.run.settings.dry_run:
            args = self.config.invocation_params.args
            out += ["resume with:", *resume_command(args)]
        return out
