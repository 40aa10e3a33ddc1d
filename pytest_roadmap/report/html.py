"""The HTML report, kept current during the run: ``status/roadmap-report.html``.

Registered in the controlling process only. It turns start events and reports into
:class:`~pytest_roadmap.report.timeline.StepRecord` s and rewrites the page (see page.py)
at most every :data:`REWRITE_INTERVAL` seconds, each time with an atomic replace, and a
last time at the end of the session. The records of earlier runs live in pytest's cache
(``roadmap/report/<roadmap file name>``), so a resumed roadmap's report shows them too.
With pytest-html and ``--html``, :class:`PytestHtmlSection` puts the same timeline in
that report's summary and each step's facts in its row.
"""

from __future__ import annotations

import contextlib
import html
import os
import threading
import time
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from pytest_roadmap import segments
from pytest_roadmap.channel import worker_count
from pytest_roadmap.context import RoadmapRun
from pytest_roadmap.model.facts import StepFacts
from pytest_roadmap.model.facts import facts_of
from pytest_roadmap.model.plan import Step
from pytest_roadmap.model.plan import local_id_of
from pytest_roadmap.model.records import CacheLike
from pytest_roadmap.paths import atomic_write
from pytest_roadmap.paths import shown
from pytest_roadmap.report.evidence import evidence_reason
from pytest_roadmap.report.page import REFRESH_SECONDS
from pytest_roadmap.report.page import TIMELINE_STYLE
from pytest_roadmap.report.page import group_stats
from pytest_roadmap.report.page import groups_table
from pytest_roadmap.report.page import render_page
from pytest_roadmap.report.page import timeline_section
from pytest_roadmap.report.summary import UNFINISHED
from pytest_roadmap.report.summary import failure_line
from pytest_roadmap.report.summary import group_column
from pytest_roadmap.report.summary import skip_line
from pytest_roadmap.report.timeline import RunMark
from pytest_roadmap.report.timeline import StepRecord
from pytest_roadmap.settings import resume_command
from pytest_roadmap.text import seconds
from pytest_roadmap.throttle import Throttle

REWRITE_INTERVAL = 3.0  # least seconds between two rewrites of the page during a run
#: a rewrite waits at least this many times as long as the last one took, so that keeping
#: the page current costs the controller at most 1 % of its time, however large the run
BUDGET_FACTOR = 100
PACE_WINDOW = 3  # the pace follows the quickest of this many last rewrites: a spike of
# load on the machine does not hold the page back for long
HISTORY_KEY = "roadmap/report"
MAX_RUNS = 10  # earlier runs kept in the cache for the report
MAX_HISTORY_RECORDS = 3000  # and at most about this many of their records (the newest runs)


class HtmlReport:
    """Collects the run's records on the controller; writes the page when ``path`` is set."""

    def __init__(
        self,
        config: pytest.Config,
        run: RoadmapRun,
        path: Path | None,
        cache: CacheLike | None,
        *,
        interval: float = REWRITE_INTERVAL,
    ) -> None:
        self.config = config
        self.run = run
        self.path = path
        self.cache = cache
        self.lock = threading.Lock()
        self.records: dict[str, StepRecord] = {}  # this run's, by local id
        self.earlier_runs, self.earlier = self._load_history()
        self.number = max((r.number for r in self.earlier_runs), default=0) + 1
        self.mark = RunMark(self.number, time.time(), None, ("main",))
        self.finished = False
        self.resume = ""
        self.error: str | None = None
        self.writes = 0
        self.write_seconds = 0.0
        self.recent: list[float] = []  # seconds the last rewrites took
        self.throttle = Throttle(self.write, interval)
        self._stop = threading.Event()
        self._keepalive: threading.Thread | None = None
        self.interval = interval

    # -- hooks ---------------------------------------------------------------

    @pytest.hookimpl(trylast=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """The agent slots are known now; the first write tells a bad path at once."""
        slots: tuple[str, ...] = ("main",)
        if self.config.pluginmanager.get_plugin("dsession") is not None:
            slots = tuple(f"gw{i}" for i in range(worker_count(self.config)))
        self.mark = RunMark(self.number, time.time(), None, slots)
        if self.path is None:
            return
        self.write()
        if self.error is not None:
            raise pytest.UsageError(self.error)
        self._keepalive = threading.Thread(target=self._tick, name="roadmap-report", daemon=True)
        self._keepalive.start()

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        step = self.run.steps.get(local_id_of(nodeid))
        if step is None or self.run.plan.static_skips.get(step.local_id):
            return
        with self.lock:
            busy = {r.lane for r in self.records.values() if r.outcome == "running"}
            lane = next((s for s in self.mark.slots if s not in busy), self.mark.slots[0])
            self.records[step.local_id] = self._record(step, "running", lane, time.time())
        self.request()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        step = self.run.steps.get(local_id_of(report.nodeid))
        if step is None:
            return
        with self.lock:
            before = self.records.get(step.local_id)
            if report.when == "setup" and (report.skipped or report.failed):
                outcome = "skipped" if report.skipped else "failed"
                reason = skip_line(report) if report.skipped else failure_line(report)
                start = before.start if before is not None else report.start or time.time()
                self.records[step.local_id] = self._record(
                    step, outcome, _lane(report, before), start, report.stop or start, reason
                )
            elif report.when == "call":
                outcome = "skipped" if report.skipped else report.outcome
                reason = ""
                if report.failed:
                    reason = failure_line(report)
                elif report.skipped:
                    reason = skip_line(report)
                self.records[step.local_id] = self._record(
                    step,
                    outcome,
                    _lane(report, before),
                    report.start or (before.start if before else time.time()),
                    report.stop or time.time(),
                    reason,
                    tuple(segments.of_report(report)),
                    facts_of(report.user_properties),
                )
            elif report.when == "teardown" and report.failed and before is not None:
                self.records[step.local_id] = _replace(
                    before, outcome="failed", reason=before.reason or failure_line(report)
                )
            else:
                return
        self.request()

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """Close what still runs (an interrupt), write the page a last time, keep the records."""
        now = time.time()
        with self.lock:
            for key, record in list(self.records.items()):
                if record.outcome == "running":
                    reason = "interrupted" if exitstatus == pytest.ExitCode.INTERRUPTED else ""
                    outcome = "interrupted" if reason else "failed"
                    self.records[key] = _replace(
                        record, outcome=outcome, end=now, reason=reason or "did not finish"
                    )
            self.mark = RunMark(self.number, self.mark.start, now, self.mark.slots, self._waits())
            self.finished = True
            self.resume = self._resume_text()
        self._stop.set()
        if self.path is not None:
            self.throttle.flush()
            self.write()
        self._save_history()

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.error is not None:
            terminalreporter.write_line(f"[roadmap] warning: {self.error}")

    # -- writing ---------------------------------------------------------------

    def request(self) -> None:
        """Ask for a rewrite; it happens now or within the interval."""
        if self.path is not None and not self.finished:
            self.throttle.request()

    def _tick(self) -> None:
        """Rewrite now and then even when nothing happens: running bars grow."""
        while not self._stop.wait(max(REFRESH_SECONDS, 2 * self.throttle.interval)):
            self.request()

    def snapshot(self) -> tuple[list[StepRecord], list[RunMark], bool]:
        """Every run's records and marks, and whether this run still goes on."""
        with self.lock:
            current = list(self.records.values())
            mark = self.mark if self.finished else _with_waits(self.mark, self._waits())
            return [*self.earlier, *current], [*self.earlier_runs, mark], not self.finished

    def render(self, now: float | None = None) -> str:
        """The page as it stands."""
        records, runs, running = self.snapshot()
        return render_page(
            self.run.settings.roadmap.name,
            records,
            runs,
            time.time() if now is None else now,
            running=running,
            log_href=self.log_hrefs(records),
            resume=self.resume,
        )

    def write(self) -> None:
        """Rewrite the page (atomic replace); an error is kept and told once, at the end."""
        if self.path is None:
            return
        started = time.perf_counter()
        try:
            atomic_write(self.path, self.render(), durable=self.finished)
        except OSError as exc:
            if self.error is None:
                where = shown(self.path, self.run.settings.project_dir)
                self.error = f"cannot write the report {where}: {exc.strerror or exc}"
            return
        took = time.perf_counter() - started
        self.writes += 1
        self.write_seconds += took
        self.recent = [*self.recent[-(PACE_WINDOW - 1) :], took]
        self.throttle.interval = pace(self.recent, self.interval)

    def log_hrefs(self, records: Sequence[StepRecord]) -> dict[str, str]:
        """Log paths (relative to the project) as links relative to the page."""
        if self.path is None:
            return {}
        return log_links(records, self.run.settings.project_dir, self.path.parent)

    # -- the rest ----------------------------------------------------------------

    def _waits(self) -> tuple[segments.Segment, ...]:
        return tuple(w for w in self.run.waits if w.end >= self.mark.start)

    def _record(
        self,
        step: Step,
        outcome: str,
        lane: str,
        start: float,
        end: float | None = None,
        reason: str = "",
        spans: tuple[segments.Segment, ...] = (),
        facts: StepFacts | None = None,
    ) -> StepRecord:
        facts = facts or StepFacts()
        return StepRecord(
            run=self.number,
            key=step.local_id,
            name=step.name,
            kind=step.kind,
            group=group_column(step),
            title=step.task.title if step.task is not None else step.label,
            lane=lane,
            outcome=outcome,
            start=start,
            end=end,
            reason=reason or evidence_reason(facts),
            spans=spans,
            turns=facts.num_turns,
            cost=facts.cost_usd,
            log=facts.main_log,
            repair_logs=tuple(repair.log for repair in facts.repairs),
            resumed=facts.resumed_session is not None,
            marks=step_marks(facts),
        )

    def _resume_text(self) -> str:
        progress = self.run.progress
        if progress is None or self.run.settings.dry_run:
            return ""
        for step in progress.selected:
            record = self.records.get(step.local_id)
            if record is None or record.outcome in ("failed", "interrupted"):
                return "\n".join(resume_command(self.config.invocation_params.args))
            if record.outcome == "skipped" and record.reason.startswith(UNFINISHED):
                return "\n".join(resume_command(self.config.invocation_params.args))
        return ""

    def _history_key(self) -> str:
        return f"{HISTORY_KEY}/{self.run.settings.roadmap.name}"

    def _load_history(self) -> tuple[list[RunMark], list[StepRecord]]:
        if self.cache is None:
            return [], []
        data = self.cache.get(self._history_key(), None)
        try:
            runs = [RunMark.from_json(entry["mark"]) for entry in data["runs"]]
            records = [
                StepRecord.from_json(raw) for entry in data["runs"] for raw in entry["records"]
            ]
        except (KeyError, TypeError, ValueError):
            return [], []  # none yet, or written by another version: start afresh
        return runs, records

    def _save_history(self) -> None:
        if self.cache is None:
            return
        with self.lock:
            current = list(self.records.values())
        if not any(r.ran for r in current):
            return  # nothing ran: not worth a mark of its own
        runs = [*self.earlier_runs, self.mark][-MAX_RUNS:]
        sizes: dict[int, int] = {}
        for record in (*self.earlier, *current):
            sizes[record.run] = sizes.get(record.run, 0) + 1
        while len(runs) > 1 and sum(sizes.get(r.number, 0) for r in runs) > MAX_HISTORY_RECORDS:
            runs.pop(0)  # the oldest go first; this run stays whatever its size
        kept = {run.number for run in runs}
        entries = [
            {
                "mark": run.to_json(),
                "records": [r.to_json() for r in (*self.earlier, *current) if r.run == run.number],
            }
            for run in runs
            if run.number in kept
        ]
        with contextlib.suppress(OSError):  # pytest's cache warns itself
            self.cache.set(self._history_key(), {"runs": entries})


def step_marks(facts: StepFacts) -> tuple[str, ...]:
    """What the report marks on a step: a gate that checked nothing (issue 27), changed
    pre-existing tests (issue 28)."""
    marks = ["unchecked: nothing to check, no gate commands"] if facts.unchecked else []
    if facts.tests_changed:
        marks.append(f"tests changed: {', '.join(facts.tests_changed)}")
    return tuple(marks)


def pace(recent: Sequence[float], least: float = REWRITE_INTERVAL) -> float:
    """Seconds until the next rewrite: ``least``, or longer when rewrites are slow."""
    return max(least, BUDGET_FACTOR * min(recent)) if recent else least


def log_links(records: Sequence[StepRecord], project: Path, folder: Path) -> dict[str, str]:
    """Each log the records name (relative to ``project``) as a link from ``folder``."""
    hrefs: dict[str, str] = {}
    for record in records:
        for log in (record.log, *record.repair_logs):
            if log and log not in hrefs:
                target = os.path.relpath(project / log, folder)
                hrefs[log] = urllib.parse.quote(Path(target).as_posix())
    return hrefs


def _lane(report: pytest.TestReport, before: StepRecord | None) -> str:
    worker = getattr(report, "worker_id", None)
    if isinstance(worker, str) and worker:
        return worker
    return before.lane if before is not None else "main"


def _replace(record: StepRecord, **changes: Any) -> StepRecord:
    from dataclasses import replace

    return replace(record, **changes)


def _with_waits(mark: RunMark, waits: tuple[segments.Segment, ...]) -> RunMark:
    from dataclasses import replace

    return replace(mark, waits=waits)


def _ended(mark: RunMark, now: float) -> RunMark:
    from dataclasses import replace

    return replace(mark, end=now)


class PytestHtmlSection:
    """pytest-html's report gets the timeline in its summary and each step's facts in its row.

    Registered only when pytest-html is loaded and ``--html`` was given (its hooks exist then).
    """

    def __init__(self, report: HtmlReport) -> None:
        self.report = report

    def pytest_html_results_summary(
        self, prefix: list[str], summary: list[str], postfix: list[str], session: Any
    ) -> None:
        records, runs, _ = self.report.snapshot()
        now = time.time()
        # pytest-html writes its report as the session ends: this run is over
        runs = [run if run.end is not None else _ended(run, now) for run in runs]
        htmlpath = self.report.config.getoption("htmlpath", None)
        folder = Path(str(htmlpath)).absolute().parent if htmlpath else Path.cwd()
        links = log_links(records, self.report.run.settings.project_dir, folder)
        prefix.append(
            f'<div class="roadmap"><style>{TIMELINE_STYLE}</style><h2>Roadmap timeline</h2>'
            + timeline_section(records, runs, now, links)
            + groups_table(group_stats(records, runs, now))
            + "</div>"
        )

    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        cells.append("<th>Roadmap</th>")

    def pytest_html_results_table_row(self, report: pytest.TestReport, cells: list[str]) -> None:
        facts = facts_of(report.user_properties)
        shown_facts = []
        if facts.agent is not None:
            shown_facts.append(seconds(facts.agent.duration_s))
        if facts.num_turns is not None:
            shown_facts.append(f"{facts.num_turns} turns")
        if facts.cost_usd is not None:
            shown_facts.append(f"${facts.cost_usd:.4f}")
        if facts.agent is not None and facts.agent.retry_reasons:
            shown_facts.append(f"{len(facts.agent.retry_reasons)} retries")
        if facts.main_log:
            shown_facts.append(f"log {facts.main_log}")
        cells.append(f"<td>{html.escape(' · '.join(shown_facts))}</td>")
