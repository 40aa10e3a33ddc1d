"""Run one coding agent as a subprocess: log, timeouts, process-tree kill.

No pytest here. :func:`run_agent` starts the agent in its own session (process
group), copies everything it prints to a log file, keeps a bounded tail, feeds its
output to an :class:`~pytest_roadmap.agents.stream.EventStream` when it speaks stream-json,
and kills the whole process tree on timeout or interrupt. What the agent said, and
the outcome it adds up to, is :mod:`pytest_roadmap.agents.stream`'s.
"""

from __future__ import annotations

import contextlib
import math
import os
import shlex
import subprocess
import threading
import time
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO
from typing import Any

import psutil

from pytest_roadmap.agents.limits import UsageLimit
from pytest_roadmap.agents.stream import NOT_FOUND_EXIT
from pytest_roadmap.agents.stream import AgentResult
from pytest_roadmap.agents.stream import EventStream
from pytest_roadmap.agents.stream import EventTranslator
from pytest_roadmap.agents.stream import StreamState
from pytest_roadmap.model.plan import Step
from pytest_roadmap.model.usage import WindowUsage
from pytest_roadmap.process import JOIN_TIMEOUT
from pytest_roadmap.process import kill_orphans
from pytest_roadmap.process import kill_tree
from pytest_roadmap.process import launch
from pytest_roadmap.resources import rss_of
from pytest_roadmap.text import one_line

__all__ = [
    "AgentCommand",
    "child_env",
    "interrupted_result",
    "run_agent",
]

TAIL_BYTES = 8 * 1024
TAIL_LINES = 40
CHUNK = 64 * 1024
INTERRUPT_GRACE = 2.0
NESTING_VARS = ("CLAUDECODE", "CLAUDE_CODE_ENTRYPOINT")
EventCallback = Callable[[Mapping[str, Any]], None]


@dataclass(frozen=True)
class AgentCommand:
    """How to start an agent. ``argv`` is run without a shell."""

    argv: tuple[str, ...]
    cwd: Path
    env: Mapping[str, str]
    stdin: bytes | None
    reads_stream_json: bool
    #: with ``reads_stream_json``: for agents whose JSON lines are not Claude Code's
    translate_event: EventTranslator | None = None
    #: the model chosen for the agent (see agents/models.py); None: the agent's default
    model: str | None = None


def child_env(base: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    """``base`` minus CLAUDECODE and CLAUDE_CODE_ENTRYPOINT (nesting guard), plus ``extra``."""
    env = {key: value for key, value in base.items() if key not in NESTING_VARS}
    env.update(extra)
    return env


def interrupted_result(exc: BaseException) -> AgentResult | None:
    """The partial result :func:`run_agent` attached to an exception it re-raised."""
    result = getattr(exc, "agent_result", None)
    return result if isinstance(result, AgentResult) else None


def run_agent(
    cmd: AgentCommand,
    log_path: Path,
    timeout: float,
    *,
    on_event: EventCallback | None = None,
    kill_grace: float = 5.0,
    idle_timeout: float = 0.0,
    on_limit_warning: Callable[[UsageLimit], None] | None = None,
    on_usage: Callable[[tuple[WindowUsage, ...]], None] | None = None,
) -> AgentResult:
    """Run ``cmd`` to completion, timeout or interrupt; append all its output to ``log_path``.

    ``timeout`` <= 0 or infinite means no limit. The whole process tree is killed
    (SIGTERM, ``kill_grace`` seconds, SIGKILL) on timeout, after ``idle_timeout``
    seconds without output (0: never; only for agents read as stream-json, which print
    an event for every message and tool call), and when the stream says the API keeps
    refusing the credentials. An exception arriving while waiting (KeyboardInterrupt...)
    kills the tree too and is re-raised with the partial result attached (see
    :func:`interrupted_result`). ``on_event`` is called from a reader thread for every
    stream-json event; ``on_limit_warning`` from the calling thread, once, when the
    stream says the account is close to its usage limit; ``on_usage`` from the calling
    thread, with every window's last utilization, whenever the stream reports one.
    """
    if not cmd.argv:
        raise ValueError("AgentCommand.argv is empty")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log_file:
        log = _Log(log_file)
        log.note(
            f"=== roadmap agent start {_now()}: cd {shlex.quote(str(cmd.cwd))} && "
            f"{shlex.join(cmd.argv)}"
        )
        started = time.monotonic()
        try:
            proc = _spawn(cmd)
        except OSError as exc:
            return _launch_failed(cmd, exc, log, log_path, time.monotonic() - started)
        watch = _Watch(
            timeout=timeout,
            idle_timeout=idle_timeout if cmd.reads_stream_json else 0.0,
            kill_grace=kill_grace,
            on_limit_warning=on_limit_warning,
            on_usage=on_usage,
        )
        return _supervise(proc, cmd, log, log_path, started, watch, on_event)


# -- supervision -------------------------------------------------------------------------------


def _spawn(cmd: AgentCommand) -> subprocess.Popen[bytes]:
    argv, preexec = launch(cmd.argv, cmd.env)
    return subprocess.Popen(
        argv,
        cwd=cmd.cwd,
        env=dict(cmd.env),
        stdin=subprocess.DEVNULL if cmd.stdin is None else subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=preexec,  # noqa: PLW1509 - a single prctl call, async-signal-safe
    )


@dataclass
class _Watch:
    """What ends an agent besides its own exit, and what is learnt while it runs."""

    timeout: float
    idle_timeout: float
    kill_grace: float
    on_limit_warning: Callable[[UsageLimit], None] | None = None
    on_usage: Callable[[tuple[WindowUsage, ...]], None] | None = None
    usage_reports: int = 0
    timed_out: bool = False
    stalled: bool = False
    refused: bool = False
    warned: bool = False
    peak_rss: int | None = None

    @property
    def killed(self) -> bool:
        """We ended the agent (timeout, silence, refused credentials)."""
        return self.timed_out or self.stalled or self.refused


def _supervise(
    proc: subprocess.Popen[bytes],
    cmd: AgentCommand,
    log: _Log,
    log_path: Path,
    started: float,
    watch: _Watch,
    on_event: EventCallback | None,
) -> AgentResult:
    assert proc.stdout is not None
    wake = threading.Event()
    reader = _Reader(proc.stdout, log, cmd.reads_stream_json, on_event, cmd.translate_event, wake)
    threads: list[threading.Thread] = []
    try:
        threads.append(reader.start())
        if proc.stdin is not None and (writer := _write_stdin(proc.stdin, cmd.stdin or b"")):
            threads.append(writer)
        _wait(proc, reader, wake, watch, started)
    except BaseException as exc:
        with contextlib.suppress(BaseException):  # a second Ctrl-C only skips the grace period
            kill_tree(proc.pid, min(watch.kill_grace, INTERRUPT_GRACE))
        with contextlib.suppress(BaseException):  # ...but must not stop the kill: kill again
            kill_tree(proc.pid, 0)
        result = _finish(proc, reader, threads, log, log_path, started, watch, interrupted=True)
        log.note(f"=== roadmap agent end: interrupted ({type(exc).__name__}); killed")
        with contextlib.suppress(Exception):
            exc.agent_result = result  # type: ignore[attr-defined]
        raise
    result = _finish(proc, reader, threads, log, log_path, started, watch)
    log.note(_end_note(result))
    return result


def _wait(
    proc: subprocess.Popen[bytes],
    reader: _Reader,
    wake: threading.Event,
    watch: _Watch,
    started: float,
) -> None:
    """Wait for the agent to exit, then kill its group's orphans; or end its whole tree on
    timeout, after ``idle_timeout`` of silence, or when the API keeps refusing it.

    It wakes when the agent exits or the reader learns something (``wake``), when a
    deadline comes, and once a second to sample the tree's memory; it never polls faster.
    """
    exited = _exit_event(proc, wake)
    deadline = math.inf if watch.timeout <= 0 else started + watch.timeout
    memory = _Memory(proc.pid, started)
    while True:
        wake.clear()
        _report_usage(reader.state, watch)
        if exited.is_set():
            kill_orphans(proc.pid)
            break
        now = time.monotonic()
        quiet_until = (
            reader.last_output + watch.idle_timeout if watch.idle_timeout > 0 else math.inf
        )
        watch.refused = reader.state.refused
        watch.timed_out = now >= deadline
        watch.stalled = now >= quiet_until
        if watch.killed:
            kill_tree(proc.pid, watch.kill_grace)
            break
        if reader.state.limit_warning is not None and not watch.warned:
            watch.warned = True
            if watch.on_limit_warning is not None:
                watch.on_limit_warning(reader.state.limit_warning)
        memory.sample(now)
        wake.wait(max(0.0, min(deadline, quiet_until, memory.next_at) - now))
    watch.peak_rss = memory.peak


def _report_usage(state: StreamState, watch: _Watch) -> None:
    """Tell ``watch.on_usage`` of utilization the stream reported since the last call."""
    if state.usage_reports != watch.usage_reports and watch.on_usage is not None:
        watch.usage_reports = state.usage_reports
        watch.on_usage(tuple(state.usage.values()))


class _Memory:
    """The peak resident memory of a process tree, sampled once a second (not before the
    first ``FIRST_SAMPLE`` seconds: an agent that ends at once costs nothing)."""

    FIRST_SAMPLE = 0.2
    INTERVAL = 1.0

    def __init__(self, pid: int, started: float) -> None:
        self.peak: int | None = None
        self.next_at = started + self.FIRST_SAMPLE
        try:
            self._root: psutil.Process | None = psutil.Process(pid)
        except psutil.Error:
            self._root = None

    def sample(self, now: float) -> None:
        """Take a sample if one is due."""
        if now < self.next_at or self._root is None:
            return
        self.next_at = now + self.INTERVAL
        try:
            procs = [self._root, *self._root.children(recursive=True)]
        except psutil.Error:
            return
        total = rss_of(procs)
        if total and (self.peak is None or total > self.peak):
            self.peak = total


def _exit_event(proc: subprocess.Popen[bytes], wake: threading.Event) -> threading.Event:
    """An event set when the agent exits (``wake`` too): a blocking waitpid in a thread.

    ``Popen.wait(timeout=...)`` polls with sleeps of up to 50 ms, which every task paid.
    """
    exited = threading.Event()

    def reap() -> None:
        proc.wait()
        exited.set()
        wake.set()

    threading.Thread(target=reap, name="roadmap-agent-reaper", daemon=True).start()
    return exited


def _finish(
    proc: subprocess.Popen[bytes],
    reader: _Reader,
    threads: list[threading.Thread],
    log: _Log,
    log_path: Path,
    started: float,
    watch: _Watch,
    *,
    interrupted: bool = False,
) -> AgentResult:
    """Reap the process, join the I/O threads (bounded) and build the result."""
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=JOIN_TIMEOUT)
    for thread in threads:
        thread.join(JOIN_TIMEOUT)  # a reader still blocked means an escaped process holds stdout
    for pipe in (proc.stdout, proc.stdin)[len(threads) :]:  # pipes of threads never started
        if pipe is not None:
            pipe.close()
    if reader.callback_error:
        log.note(f"=== roadmap: on_event callback failed: {reader.callback_error}")
    killed = watch.killed or interrupted
    return reader.state.result(
        exit_code=None if killed else proc.returncode,
        timed_out=watch.timed_out,
        interrupted=interrupted,
        duration=time.monotonic() - started,
        log_path=log_path,
        tail=reader.tail(),
        stalled_after=watch.idle_timeout if watch.stalled else None,
        peak_rss=watch.peak_rss,
    )


def _launch_failed(
    cmd: AgentCommand, exc: OSError, log: _Log, log_path: Path, duration: float
) -> AgentResult:
    argv0 = cmd.argv[0]
    if not cmd.cwd.is_dir():
        reason = f"agent working directory not found: {cmd.cwd}"
    elif isinstance(exc, FileNotFoundError):
        reason = f"agent command not found: {argv0}"
    elif isinstance(exc, PermissionError):
        reason = f"agent command not executable: {argv0}"
    else:
        reason = one_line(f"cannot start agent {argv0}: {exc}")
    log.note(f"=== roadmap agent end: {reason}")
    return AgentResult(
        exit_code=NOT_FOUND_EXIT,
        timed_out=False,
        interrupted=False,
        duration=duration,
        log_path=log_path,
        tail=reason,
        launch_error=reason,
    )


def _end_note(result: AgentResult) -> str:
    if result.timed_out:
        what = "timed out; killed"
    elif result.stalled_after is not None:
        what = f"no output for {result.stalled_after:g}s; killed"
    elif result.exit_code is None:
        what = "the API refused its credentials again and again; killed"
    else:
        what = f"exit code {result.exit_code}"
    return f"=== roadmap agent end: {what} after {result.duration:.1f}s"


def _write_stdin(pipe: IO[bytes], data: bytes) -> threading.Thread | None:
    """Give the agent its prompt, then close its stdin.

    What the pipe takes at once (64 KiB on Linux, most prompts) is written here; the rest
    of a larger prompt from a thread, so that an agent slow to read cannot block us.
    """
    fd = pipe.fileno()
    os.set_blocking(fd, False)
    try:
        written = os.write(fd, data) if data else 0
    except BlockingIOError:
        written = 0
    except OSError:  # the agent exited or closed stdin without reading
        written = len(data)
    if written >= len(data):
        with contextlib.suppress(OSError):
            pipe.close()
        return None
    os.set_blocking(fd, True)

    def write(rest: memoryview) -> None:
        try:
            while rest:
                rest = rest[os.write(fd, rest) :]
        except OSError:  # the agent exited or closed stdin without reading it all
            pass
        finally:
            with contextlib.suppress(OSError):
                pipe.close()

    rest = memoryview(data)[written:]
    thread = threading.Thread(target=write, args=(rest,), name="roadmap-agent-stdin", daemon=True)
    thread.start()
    return thread


# -- output ------------------------------------------------------------------------------------


class _Log:
    """The log file, shared by the reader thread and the supervising thread."""

    def __init__(self, file: IO[bytes]) -> None:
        self._file = file
        self._lock = threading.Lock()
        self._at_line_start = True
        self.error: OSError | None = None

    def write(self, data: bytes, *, own_line: bool = False) -> None:
        """Append ``data``; with ``own_line``, start it on a fresh line."""
        with self._lock:
            if own_line and not self._at_line_start:
                data = b"\n" + data
            if self.error is not None or not data:
                return
            try:
                self._file.write(data)
                self._file.flush()
            except OSError as exc:  # disk full...: keep draining the pipe anyway
                self.error = exc
            self._at_line_start = data.endswith(b"\n")

    def note(self, text: str) -> None:
        """Write one line of our own, on a line of its own."""
        self.write(text.encode("utf-8", "replace") + b"\n", own_line=True)


class _Reader(threading.Thread):
    """Drain the agent's stdout into the log, a bounded tail and (optionally) the event parser.

    It notes when output last came, and sets ``wake`` when the events say something the
    supervising thread acts on: the credentials refused again, the usage limit close.
    """

    def __init__(
        self,
        pipe: IO[bytes],
        log: _Log,
        parse_json: bool,
        on_event: EventCallback | None,
        translate: EventTranslator | None = None,
        wake: threading.Event | None = None,
    ) -> None:
        super().__init__(name="roadmap-agent-stdout", daemon=True)
        self._pipe = pipe
        self._log = log
        self._stream = EventStream(translate) if parse_json else None
        self._state = self._stream.state if self._stream is not None else StreamState()
        self._on_event = on_event
        self._tail = bytearray()
        self._callback_error = ""
        self._wake = wake
        self._told = (False, False, 0)  # the news the supervising thread was woken for
        #: time.monotonic() of the last output
        self.last_output = time.monotonic()

    def start(self) -> _Reader:  # type: ignore[override]
        super().start()
        return self

    def run(self) -> None:
        read = getattr(self._pipe, "read1", self._pipe.read)
        try:
            while chunk := read(CHUNK):
                self.last_output = time.monotonic()
                self._log.write(chunk)
                self._keep_tail(chunk)
                if self._stream is not None:
                    self._notify(self._stream.feed(chunk))
                    state = self._state
                    news = (state.refused, state.limit_warning is not None, state.usage_reports)
                    if news != self._told and self._wake is not None:
                        self._told = news
                        self._wake.set()
        except (OSError, ValueError):  # pipe closed under us
            pass
        finally:
            with contextlib.suppress(OSError):
                self._pipe.close()
        if self._stream is not None:
            self._notify(self._stream.close())

    @property
    def state(self) -> StreamState:
        """What the events said (nothing, when the output is not read as events)."""
        return self._state

    @property
    def callback_error(self) -> str:
        """The first exception the translator or ``on_event`` raised."""
        stream_error = self._stream.translate_error if self._stream is not None else ""
        return stream_error or self._callback_error

    def tail(self) -> str:
        text = bytes(self._tail).decode("utf-8", errors="replace")
        return "\n".join(text.splitlines()[-TAIL_LINES:])

    def _keep_tail(self, chunk: bytes) -> None:
        self._tail += chunk[-TAIL_BYTES:]
        if len(self._tail) > TAIL_BYTES:
            del self._tail[:-TAIL_BYTES]

    def _notify(self, events: list[Mapping[str, Any]]) -> None:
        if self._on_event is None:
            return
        for event in events:
            try:
                self._on_event(event)
            except Exception as exc:  # a broken callback must not stop the draining
                self._callback_error = self._callback_error or one_line(repr(exc))


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def task_env(step: Step, log: Path, resume: str | None = None) -> dict[str, str]:
    """The agent's environment: ours without Claude Code's nesting guard, plus ROADMAP_*."""
    assert step.group is not None and step.task is not None
    extra = {
        "ROADMAP_TASK_ID": step.task.id,
        "ROADMAP_GROUP": step.group.id,
        "ROADMAP_PHASE": str(step.phase.number),
        "ROADMAP_LOG": str(log),
    }
    if resume:
        extra["ROADMAP_RESUME_SESSION"] = resume
    return child_env(os.environ, extra)
