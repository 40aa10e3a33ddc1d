"""The live view of running tasks: its rendering, log tailing, and runs with and without a TTY."""

from __future__ import annotations

import fcntl
import io
import json
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from rich.console import Console

from pytest_roadmap.model.plan import Plan
from pytest_roadmap.model.plan import Progress
from pytest_roadmap.model.roadmap import parse_roadmap
from pytest_roadmap.report.live import LogTail
from pytest_roadmap.report.live import RowView
from pytest_roadmap.report.live import _LineRouter
from pytest_roadmap.report.live import elapsed_text
from pytest_roadmap.report.live import notice_text
from pytest_roadmap.report.live import render
from pytest_roadmap.report.live import tail_for
from pytest_roadmap.report.live import wanted
from tests.conftest import TWO_GROUPS
from tests.conftest import Project

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
TASK_LOG = re.compile(r"phase1_groupA_A1_\d+\.log")


def _console(width: int = 100) -> Console:
    return Console(record=True, width=width, force_terminal=True, color_system=None)


def _text(console: Console) -> str:
    return console.export_text()


def _assistant(*blocks: dict[str, object]) -> dict[str, object]:
    return {"type": "assistant", "message": {"content": list(blocks)}}


def _tool(name: str) -> dict[str, object]:
    return {"type": "tool_use", "name": name, "input": {}}


def _lines(*events: dict[str, object]) -> bytes:
    return b"".join(json.dumps(e).encode() + b"\n" for e in events)


# -- rendering ---------------------------------------------------------------------------


def test_render_shows_one_row_per_running_task_and_the_footer() -> None:
    console = _console()
    rows = [
        RowView("A1", "First task", 65.2, 3, "Bash"),
        RowView("A2", "Second task", 4.9, None, ""),
    ]
    console.print(render(rows, "roadmap: 2 running · 1 passed", 100))
    lines = _text(console).splitlines()
    assert re.fullmatch(r"A1\s+First task\s+1m05s\s+3 turns\s+Bash\s*", lines[0])
    assert re.fullmatch(r"A2\s+Second task\s+4s\s*", lines[1])
    assert lines[2].startswith("roadmap: 2 running · 1 passed")
    assert len(lines) == 3


def test_render_truncates_long_titles_to_the_width() -> None:
    console = _console(width=60)
    row = RowView("B1", "A very long title " * 10, 1.0, 1, "mcp__server__some_long_tool_name" * 3)
    console.print(render([row], "footer", 60))
    first = _text(console).splitlines()[0]
    assert first.startswith("B1") and "…" in first and "1 turn " in first
    assert len(first.rstrip()) <= 60


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.4, "0s"), (59.9, "59s"), (61, "1m01s"), (3725, "1h02m")]
)
def test_elapsed_text(seconds: float, text: str) -> None:
    assert elapsed_text(seconds) == text


# -- tailing the agent's log -----------------------------------------------------------


def test_log_tail_counts_turns_and_the_last_tool_from_new_bytes(tmp_path: Path) -> None:
    log = tmp_path / "phase1_groupA_A1_1700000000.log"
    log.write_bytes(
        b"[roadmap] a note of ours\n"
        + _lines({"type": "system", "subtype": "init", "session_id": "s"})
        + _lines(_assistant(_tool("Read")))
    )
    tail = LogTail(tmp_path, TASK_LOG, since=0)
    tail.poll()
    assert (tail.state.turns, tail.activity()) == (1, "Read")
    half = _lines(_assistant({"type": "text", "text": "done"}))
    with log.open("ab") as file:  # a line still being written counts once complete
        file.write(_lines(_assistant(_tool("Edit"), _tool("Bash"))) + half[:10])
    tail.poll()
    assert (tail.state.turns, tail.activity()) == (2, "Bash")
    with log.open("ab") as file:
        file.write(half[10:])
    tail.poll()
    assert (tail.state.turns, tail.activity()) == (3, "writing")


def test_log_tail_reads_at_most_the_limit_per_poll(tmp_path: Path) -> None:
    log = tmp_path / "phase1_groupA_A1_1700000000.log"
    log.write_bytes(_lines(*[_assistant(_tool(f"T{i}")) for i in range(50)]))
    tail = LogTail(tmp_path, TASK_LOG, since=0)
    polls = 0
    while tail.offset < log.stat().st_size and polls < 1000:
        tail.poll(limit=100)
        polls += 1
    assert polls == -(-log.stat().st_size // 100)
    assert (tail.state.turns, tail.activity()) == (50, "T49")


def test_log_tail_follows_only_this_tasks_new_log(tmp_path: Path) -> None:
    old = tmp_path / "phase1_groupA_A1_1600000000.log"
    old.write_bytes(_lines(_assistant(_tool("Old"))))
    os.utime(old, (1_600_000_000, 1_600_000_000))
    for name in ("phase1_groupA_A10_1700000000.log", "phase1_groupA_A1_x.log"):
        (tmp_path / name).write_bytes(_lines(_assistant(_tool("Other"))))
    tail = LogTail(tmp_path, TASK_LOG, since=time.time() - 60)
    tail.poll()
    assert tail.path is None and tail.activity() == ""
    (tmp_path / "phase1_groupA_A1_1700000001.log").write_bytes(_lines(_assistant(_tool("Grep"))))
    tail.poll()
    assert tail.activity() == "Grep"


def test_log_tail_reads_codex_events_through_its_translator(tmp_path: Path) -> None:
    from pytest_roadmap.agents.codex import CodexEvents

    log = tmp_path / "phase1_groupA_A1_1700000000.log"
    log.write_bytes(
        _lines(
            {"type": "thread.started", "thread_id": "t1"},
            {"type": "item.started", "item": {"id": "1", "type": "command_execution"}},
            {"type": "item.completed", "item": {"id": "1", "type": "command_execution"}},
        )
    )
    tail = LogTail(tmp_path, TASK_LOG, since=0, translator=CodexEvents)
    tail.poll()
    assert (tail.state.turns, tail.activity()) == (1, "command_execution")


def test_a_gates_row_follows_its_repair_agents(tmp_path: Path) -> None:
    roadmap = parse_roadmap(TWO_GROUPS)
    steps = Plan.build(roadmap).by_local_id()
    gate = tail_for(steps["phase1::groupA::gate"], tmp_path, since=0)
    assert gate is not None
    assert tail_for(steps["phase1::commit"], tmp_path, since=0) is None
    gate.poll()
    assert gate.activity() == ""
    (tmp_path / "phase1_groupA_gate_1700000000.log").write_text("npm test\n")
    (tmp_path / "phase1_groupA_fix1_1700000001.log").write_bytes(_lines(_assistant(_tool("Edit"))))
    gate.poll()
    assert gate.activity() == "fix1: Edit"


class _Writer:
    def __init__(self, tty: bool) -> None:
        self._file = io.StringIO()
        self._file.isatty = lambda: tty  # type: ignore[method-assign]


class _Config:
    """What :func:`wanted` asks of pytest's config."""

    def __init__(self, tty: bool, verbosity: int = 0, reporter: bool = True) -> None:
        self.writer, self.verbosity, self.reporter = _Writer(tty), verbosity, reporter
        self.pluginmanager = self

    def get_plugin(self, name: str) -> object:
        return object() if self.reporter else None

    def get_terminal_writer(self) -> _Writer:
        return self.writer

    def get_verbosity(self) -> int:
        return self.verbosity


@pytest.mark.parametrize(
    ("mode", "config", "env", "shown"),
    [
        ("auto", _Config(tty=True), {}, True),
        ("auto", _Config(tty=False), {}, False),
        ("auto", _Config(tty=True), {"CI": "true"}, False),
        ("auto", _Config(tty=True), {"CI": "false"}, True),
        ("auto", _Config(tty=True), {"TERM": "dumb"}, False),
        ("auto", _Config(tty=True, verbosity=-1), {}, False),
        ("auto", _Config(tty=True, verbosity=2), {}, True),
        ("on", _Config(tty=False), {"CI": "1"}, True),
        ("on", _Config(tty=True, reporter=False), {}, False),  # -p no:terminal
        ("off", _Config(tty=True), {}, False),
    ],
)
def test_when_the_view_is_shown(
    monkeypatch: pytest.MonkeyPatch, mode: str, config: _Config, env: dict[str, str], shown: bool
) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert wanted(config, mode) is shown  # type: ignore[arg-type]


# -- pytest's lines above the region ------------------------------------------------------


def test_whole_lines_go_above_the_region_and_a_partial_line_waits() -> None:
    original = io.StringIO()
    out = io.StringIO()
    router = _LineRouter(Console(file=out, force_terminal=True, color_system=None), original)
    router.write("[roadmap] A1 started: First task\nROADMAP.md::phase1::groupA::A1 ")
    router.flush()
    assert out.getvalue() == "[roadmap] A1 started: First task\n"
    router.write("PASSED\n")
    assert out.getvalue().endswith("ROADMAP.md::phase1::groupA::A1 PASSED\n")
    router.write("tail")
    router.close()
    assert original.getvalue() == "tail"


# -- whole runs --------------------------------------------------------------------------


def test_without_a_tty_the_output_is_plain_lines_in_order(project: Project) -> None:
    probe = project.path.parent / f"{project.path.name}-rich.txt"
    project.pytester.makeconftest(
        f"""
        import sys
        def pytest_unconfigure():
            open({str(probe)!r}, "w").write(str("rich" in sys.modules))
        """
    )
    project.roadmap()
    result = project.run("--roadmap-live", "auto", "-p", "no:cacheprovider")
    assert result.ret == 0
    assert probe.read_text() == "False"  # rich is imported only when the view starts
    text = result.stdout.str()
    assert not ANSI.search(text) and "\x1b" not in text
    result.stdout.fnmatch_lines(
        [
            "[[]roadmap] Phase 1 · Group A: Base — 2 tasks, 1 agent",
            "[[]roadmap] A1 started: First task",
            "[[]roadmap] A1 passed in *s",
            "[[]roadmap] A2 started: Second task",
            "[[]roadmap] A2 passed in *s",
            "[[]roadmap] Phase 1 Group A gate passed: nothing to check; group complete, unchecked",
            "[[]roadmap] B1 started: Third task",
            "*roadmap summary*",
        ]
    )


def test_an_invalid_live_mode_is_a_usage_error(project: Project) -> None:
    project.roadmap("---\nroadmap_live: sometimes\n---\n" + TWO_GROUPS)
    result = project.run("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*invalid live view 'sometimes' from roadmap_live in the*"])


def _run_in_pty(
    cwd: Path, argv: list[str], env: dict[str, str], deadline: float, size: tuple[int, int]
) -> bytes:
    """Run ``argv`` with a pseudo-terminal of ``size`` (lines, columns) as stdout and
    stderr; all it printed."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", *size, 0, 0))
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave
    )
    os.close(slave)
    chunks: list[bytes] = []
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child's end is closed
                break
            if not data:
                break
            chunks.append(data)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        os.close(master)
    return b"".join(chunks)


def _roadmap_on_a_tty(project: Project, agent: str, size: tuple[int, int], *args: str) -> str:
    """Run the project's roadmap with ``agent`` on a pseudo-terminal of ``size`` (lines,
    columns), starts unpaced, outside CI; all it printed."""
    argv = [sys.executable, "-m", "pytest", "--roadmap", "ROADMAP.md", *args]
    argv += ["--roadmap-agent-command", agent, "--roadmap-no-push", "--roadmap-stagger", "0"]
    argv += ["-p", "no:cacheprovider", "-p", "no:randomly"]
    dropped = ("CI", "ROADMAP_LIVE", "COLUMNS", "LINES")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(TERM="xterm-256color")
    deadline = time.monotonic() + 90
    return _run_in_pty(project.path, argv, env, deadline, size).decode("utf-8", "replace")


@pytest.mark.parametrize(
    ("size", "args"),
    [((40, 120), ()), ((0, 0), ("-n", "2"))],
    ids=["serial", "unsized-terminal-xdist"],
)
def test_on_a_tty_the_running_task_shows_in_the_live_region(
    project: Project, size: tuple[int, int], args: tuple[str, ...]
) -> None:
    """A terminal that reports no size (0x0) still gets the region and every line."""
    project.roadmap("# R\n\n## Phase 1: P\n\n### Group A: Base\n- **A1: First task** - x\n")
    agent = project.agent("--sleep", "1", "--stream-json")
    out = _roadmap_on_a_tty(project, agent, size, *args, "--roadmap-live", "auto")
    assert "\x1b[" in out  # rich drew (and erased) a region
    plain = ANSI.sub("", out).replace("\r", "")
    assert re.search(r"A1\s+First task\s+\d+s", plain), plain
    assert "roadmap: 1 running" in plain
    assert "[roadmap] A1 started: First task\n" in plain
    assert re.search(r"\[roadmap\] A1 passed in [\d.]+s \(\$0\.0123, 2 turns\)\n", plain), plain
    assert re.search(r"=+ roadmap summary =+\n", plain), plain
    assert re.search(r"=+ \d+ passed.* in [\d.]+s", plain), plain


def test_a_usage_limit_pause_shows_a_countdown_then_a_warning_stays() -> None:
    progress = Progress(Plan.build(parse_roadmap(TWO_GROUPS)))
    now = time.time()
    assert notice_text(progress, now) == ""
    progress.pause(now + 4 * 3600 + 12 * 60 + 30, "usage limit (5-hour)")
    notice = notice_text(progress, now)
    until = time.strftime("%H:%M", time.localtime(now + 4 * 3600 + 12 * 60 + 30))
    assert notice.startswith(f"usage limit (5-hour): no agent starts until {until} (4h")
    console = _console()
    console.print(render([], "roadmap: 0 running", 100, notice))
    assert f"no agent starts until {until}" in _text(console)
    progress.resume()
    progress.warning = "usage limit (weekly) close: resets at Fri 09:00 (in 2d 3h)"
    assert notice_text(progress, now) == progress.warning


def test_progress_lines_start_their_own_line_while_workers_still_start(project: Project) -> None:
    """Tasks start on the first worker that is ready, while xdist still rewrites its
    "collecting: 1/3 workers" line on the terminal: each progress line starts a line."""
    tasks = "".join(f"- **A{n}: Task {n}** - x\n" for n in (1, 2, 3))
    project.roadmap(f"# R\n\n## Phase 1: P\n\n### Group A: Base\n{tasks}")
    agent = project.agent("--sleep", "0.5")
    out = _roadmap_on_a_tty(project, agent, (40, 120), "-n", "3", "--roadmap-live", "off")
    plain = ANSI.sub("", out).replace("\r\n", "\n")
    assert "[roadmap] A3 passed" in plain, plain
    glued = [line for line in plain.split("\n") if "[roadmap]" in line[1:]]
    assert not glued, plain
