"""On a terminal, a live view of the running tasks, with pytest's output printed above it.

Registered in the controlling process only. One row per running step: its id, title,
elapsed time and, read from the tail of the agent's stream-json log, the turns so far
and the last tool used. While the view is up, every line pytest's terminal writer
prints (our ``[roadmap]`` lines included) goes through rich's console, above the
region. rich is imported only when the view starts.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import threading
import time
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from typing import TYPE_CHECKING

import pytest

from pytest_roadmap.model.facts import facts_of
from pytest_roadmap.model.plan import local_id_of
from pytest_roadmap.model.plan import log_prefix
from pytest_roadmap.model.usage import usage_text

if TYPE_CHECKING:
    from rich.console import Console
    from rich.console import Group
    from rich.live import Live

    from pytest_roadmap.agents.stream import EventTranslator
    from pytest_roadmap.agents.stream import StreamState
    from pytest_roadmap.context import RoadmapRun
    from pytest_roadmap.model.plan import Progress
    from pytest_roadmap.model.plan import Step

REFRESH_PER_SECOND = 4
READ_LIMIT = 256 * 1024  # bytes of one log read per refresh
LOG_SLACK = 5.0  # seconds a log may predate the controller's start of its step
TITLE_WIDTH = 40
ACTIVITY_WIDTH = 30


def wanted(config: pytest.Config, mode: str) -> bool:
    """Show the view? 'on' forces it; 'auto' wants a terminal, not CI, not -q."""
    file = _terminal_file(config)
    if mode == "off" or file is None:
        return False
    if mode == "on":
        return True
    return (
        config.get_verbosity() >= 0
        and not _in_ci()
        and os.environ.get("TERM") != "dumb"
        and bool(getattr(file, "isatty", lambda: False)())
    )


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _terminal_file(config: pytest.Config) -> IO[str] | None:
    """The file pytest's terminal writer prints to; None without a terminal reporter."""
    if config.pluginmanager.get_plugin("terminalreporter") is None:
        return None
    file: IO[str] | None = getattr(config.get_terminal_writer(), "_file", None)
    return file


# -- what an agent is doing, from its log ----------------------------------------------


class LogTail:
    """Follows the newest log in ``directory`` whose name matches ``pattern``.

    Only logs modified since ``since`` (wall clock) count. Each :meth:`poll` reads at
    most ``limit`` new bytes and feeds complete JSON lines to the stream-json state,
    through a fresh ``translator()`` per log for agents whose events are not Claude Code's.
    """

    def __init__(
        self,
        directory: Path,
        pattern: re.Pattern[str],
        since: float,
        rescan: bool = False,
        translator: Callable[[], EventTranslator] | None = None,
    ) -> None:
        self.directory = directory
        self.pattern = pattern
        self.since = since
        self.rescan = rescan  # look for a newer log each poll (a gate's repair agents)
        self.translator = translator
        self.path: Path | None = None
        self.offset = 0
        self._reset()

    def _reset(self) -> None:
        from pytest_roadmap.agents.stream import EventStream

        self._stream = EventStream(self.translator() if self.translator is not None else None)
        self.offset = 0

    @property
    def state(self) -> StreamState:
        """What the log's events said so far."""
        return self._stream.state

    def poll(self, limit: int = READ_LIMIT) -> None:
        """Read what the agent wrote since the last poll (at most ``limit`` bytes)."""
        if self.path is None or self.rescan:
            self._find()
        if self.path is None:
            return
        data = self._read(self.path, limit)
        self.offset += len(data)
        self._stream.feed(data)

    def _read(self, path: Path, limit: int) -> bytes:
        try:
            with path.open("rb") as file:
                file.seek(self.offset)
                return file.read(limit)
        except OSError:
            return b""

    def _find(self) -> None:
        newest: tuple[float, str] | None = None
        with contextlib.suppress(OSError), os.scandir(self.directory) as entries:
            for entry in entries:
                if not self.pattern.fullmatch(entry.name):
                    continue
                mtime = entry.stat().st_mtime
                if mtime >= self.since and (newest is None or mtime > newest[0]):
                    newest = (mtime, entry.path)
        if newest is not None and Path(newest[1]) != self.path:
            self.path = Path(newest[1])
            self._reset()

    def activity(self) -> str:
        """The last tool used (or 'writing', 'thinking'); a repair agent's log is named."""
        last = {"text": "writing"}.get(self.state.last_activity, self.state.last_activity)
        match = self.pattern.fullmatch(self.path.name) if self.path is not None else None
        attempt = match.group("attempt") if match is not None and match.groups() else None
        return f"fix{attempt}: {last or 'starting'}" if attempt else last


def tail_for(
    step: Step,
    log_dir: Path,
    since: float,
    translator: Callable[[], EventTranslator] | None = None,
) -> LogTail | None:
    """The log tail of a step: a task's agent, or a gate's repair agents; None for commits."""
    if step.group is None:
        return None
    prefix = re.escape(log_prefix(step.phase, step.group))
    if step.task is not None:
        pattern = re.compile(rf"{prefix}{re.escape(step.task.id)}_\d+\.log")
        return LogTail(log_dir, pattern, since, translator=translator)
    pattern = re.compile(rf"{prefix}fix(?P<attempt>\d+)_\d+\.log")
    return LogTail(log_dir, pattern, since, rescan=True, translator=translator)


# -- rendering -------------------------------------------------------------------------


@dataclass(frozen=True)
class RowView:
    """What one row shows."""

    id: str
    title: str
    elapsed: float
    turns: int | None = None
    activity: str = ""


def elapsed_text(seconds: float) -> str:
    """``42s``, ``3m05s``, ``1h02m``."""
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def render(rows: Sequence[RowView], footer: str, width: int, notice: str = "") -> Group:
    """The live region in ``width`` columns: one row per running step, a notice (a usage
    limit the run waits for, or is close to), then the footer."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    cells = [
        (row.id, row.title, elapsed_text(row.elapsed), _turns(row.turns), row.activity)
        for row in rows
    ]
    widest = [max((len(cell[i]) for cell in cells), default=0) for i in range(5)]
    spare = max(0, width - 1 - widest[0] - widest[2] - widest[3] - 2 * 4)
    activity = min(ACTIVITY_WIDTH, widest[4], spare // 3)
    title = min(TITLE_WIDTH, widest[1], spare - activity)
    table = Table.grid(padding=(0, 2))
    for index, fixed in enumerate((widest[0], title, widest[2], widest[3], activity)):
        table.add_column(
            width=fixed,
            no_wrap=True,
            overflow="ellipsis",
            justify="right" if index in (2, 3) else "left",
        )
    for cell in cells:
        table.add_row(*cell)
    lines = [Text(notice, style="yellow", no_wrap=True, overflow="ellipsis")] if notice else []
    return Group(table, *lines, Text(footer, style="dim", no_wrap=True, overflow="ellipsis"))


def notice_text(progress: Progress, now: float) -> str:
    """What the run waits for (a usage limit, with a countdown), or is warned of; or ''."""
    if progress.paused(now):
        assert progress.paused_until is not None
        left = elapsed_text(progress.paused_until - now)
        when = time.strftime("%H:%M", time.localtime(progress.paused_until))
        return f"{progress.pause_reason}: no agent starts until {when} ({left} left)"
    return f"{progress.warning}" if progress.warning else ""


def _turns(turns: int | None) -> str:
    return "" if turns is None else f"{turns} turn{'s' * (turns != 1)}"


# -- the plugin ------------------------------------------------------------------------


@dataclass
class _Running:
    step: Step
    started: float  # time.monotonic()
    tail: LogTail | None

    def view(self, now: float) -> RowView:
        step = self.step
        name, title = step.name, step.task.title if step.task is not None else step.label
        if self.tail is None:
            return RowView(name, title, now - self.started)
        self.tail.poll()
        turns = self.tail.state.turns if self.tail.path is not None else None
        return RowView(name, title, now - self.started, turns, self.tail.activity())


def _translator(agent: str) -> Callable[[], EventTranslator] | None:
    """How to read the preset agent's events (Claude Code's need no translation)."""
    if agent != "codex":
        return None
    from pytest_roadmap.agents.codex import CodexEvents

    return CodexEvents


class LiveView:
    """The rich Live region of the running steps, from the first start to session end."""

    def __init__(self, config: pytest.Config, run: RoadmapRun, mode: str) -> None:
        self.config = config
        self.run = run
        self.mode = mode
        self.active = False  # decided at session start, once the terminal reporter exists
        self.running: dict[str, _Running] = {}  # local id -> row
        self.footer = ""
        self.cost = 0.0
        self.lock = threading.Lock()
        self.live: Live | None = None
        self._router: _LineRouter | None = None

    @pytest.hookimpl(trylast=True)
    def pytest_sessionstart(self) -> None:
        self.active = wanted(self.config, self.mode)

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        step = self.run.steps.get(local_id_of(nodeid))
        progress = self.run.progress
        if not self.active or step is None or progress is None or progress.skip_reason(step):
            return
        settings = self.run.settings
        since = time.time() - LOG_SLACK
        tail = tail_for(step, settings.log_dir, since, _translator(settings.agent))
        with self.lock:
            self.running[step.local_id] = _Running(step, time.monotonic(), tail)
        self._count()
        if self.live is None:
            self._start()
        else:
            self.live.refresh()

    @pytest.hookimpl(trylast=True)  # after the controller recorded the outcome
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        local = local_id_of(report.nodeid)
        if not self.active or local not in self.run.steps:
            return
        if report.when == "call":
            self.cost += facts_of(report.user_properties).cost_usd or 0.0
        if not (report.when == "setup" and report.passed):  # settled, or torn down
            with self.lock:
                self.running.pop(local, None)
        self._count()
        if self.live is not None:
            self.live.refresh()

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self) -> None:
        """Before pytest's terminal summary."""
        self.stop()

    def pytest_keyboard_interrupt(self) -> None:
        self.stop()

    def pytest_unconfigure(self) -> None:
        self.stop()

    def _count(self) -> None:
        """The footer: counts of the selected tasks, and the cost of this run."""
        progress = self.run.progress
        assert progress is not None
        outcomes = [progress.outcome(s) for s in progress.selected if s.kind == "task"]
        with self.lock:
            running = sum(1 for row in self.running.values() if row.step.kind == "task")
            parts = [
                f"{running} running",
                f"{outcomes.count('passed')} passed",
                f"{outcomes.count('failed')} failed",
                f"{outcomes.count('skipped')} skipped",
                f"{max(0, outcomes.count(None) - running)} to run",
            ]
            if self.cost:
                parts.append(f"${self.cost:.4f}")
            self.footer = "roadmap: " + " · ".join(parts)

    def render(self) -> Group:
        """The region now (called by rich's refresh thread)."""
        router = self._router
        width = 80
        if router is not None:
            _fit(router.console)
            width = router.console.width
        now = time.monotonic()
        with self.lock:
            rows, footer = list(self.running.values()), self.footer
        progress = self.run.progress
        notice = notice_text(progress, time.time()) if progress is not None else ""
        machine = self.run.monitor.latest if self.run.monitor is not None else None
        if machine is not None:
            footer = f"{footer} · {machine.text()}"
        if self.run.usage:
            footer = f"{footer} · {usage_text(list(self.run.usage.values()))}"
        return render([row.view(now) for row in rows], footer, width, notice)

    def _start(self) -> None:
        from rich.live import Live

        tw = self.config.get_terminal_writer()
        file = _terminal_file(self.config)
        assert file is not None
        if tw.width_of_current_line:
            tw.line()
        file.flush()
        self._router = _LineRouter(_console(file, color=tw.hasmarkup), file)
        tw._file = self._router
        self.live = Live(
            console=self._router.console,
            get_renderable=self.render,
            refresh_per_second=REFRESH_PER_SECOND,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self.live.start()

    def stop(self) -> None:
        """Clear the region and give pytest its terminal back (idempotent)."""
        live, router = self.live, self._router
        self.live = self._router = None
        if live is None or router is None:
            return
        with contextlib.suppress(OSError, ValueError):  # the terminal went away
            live.stop()
        tw = self.config.get_terminal_writer()
        if isinstance(getattr(tw, "_file", None), _LineRouter):
            tw._file = router.original
        router.close()


def _console(file: IO[str], color: bool) -> Console:
    """A rich console on the terminal pytest prints to.

    It writes to a duplicate of the terminal's descriptor, since in a serial run pytest's
    output capture points descriptor 1 at a temporary file while an item runs.
    """
    from rich.console import Console

    try:
        out: IO[str] = open(  # noqa: SIM115 - closed by _LineRouter.close
            os.dup(file.fileno()), "w", encoding="utf-8", errors="replace", closefd=True
        )
    except (OSError, ValueError, AttributeError):
        out = file
    console = Console(file=out, force_terminal=True, no_color=not color, highlight=False)
    _fit(console)
    return console


def _fit(console: Console) -> None:
    """Follow the terminal's size (rich would ask descriptors pytest may have captured).

    A terminal that reports no size (a pseudo-terminal nobody sized) gets COLUMNS and
    LINES, else 80x24: at width 0 rich would print nothing at all, our lines included.
    """
    size = None
    with contextlib.suppress(OSError, ValueError, AttributeError):
        size = os.get_terminal_size(console.file.fileno())
    if size is None or size.columns <= 0 or size.lines <= 0:
        size = shutil.get_terminal_size()
    console.size = size


class _LineRouter:
    """Stands in for the terminal writer's file: whole lines print above the live region."""

    def __init__(self, console: Console, original: IO[str]) -> None:
        self.console = console
        self.original = original
        self.pending = ""
        self.lock = threading.Lock()

    @property
    def encoding(self) -> str:
        return getattr(self.original, "encoding", None) or "utf-8"

    def write(self, text: str) -> int:
        from rich.text import Text

        with self.lock:
            *lines, self.pending = (self.pending + text).split("\n")
            if lines:
                joined = Text("\n").join(Text.from_ansi(line) for line in lines)
                self.console.print(joined, soft_wrap=True)
        return len(text)

    def flush(self) -> None:
        """Partial lines wait for their newline (pytest flushes after each status letter)."""

    def isatty(self) -> bool:
        return bool(self.original.isatty())

    def close(self) -> None:
        """Write a partial line left over to the original file; close our descriptor."""
        if self.pending:
            self.original.write(self.pending)
            self.original.flush()
        if self.console.file is not self.original:
            with contextlib.suppress(OSError):
                self.console.file.close()
