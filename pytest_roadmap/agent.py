"""Run one coding agent as a subprocess: log, timeout, process-tree kill, stream-json reading.

No pytest here. :func:`run_agent` starts the agent in its own session (process
group), copies everything it prints to a log file, keeps a bounded tail, reads
Claude Code's ``stream-json`` events when asked to, and kills the whole process
tree on timeout or interrupt. :meth:`AgentResult.failure` turns the outcome into
one user-facing line and says whether every other task would fail the same way.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import json
import math
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO
from typing import Any

import psutil

__all__ = [
    "FAILURE_KIND",
    "AgentCommand",
    "AgentFailure",
    "AgentResult",
    "EventTranslator",
    "child_env",
    "interrupted_result",
    "kill_tree",
    "run_agent",
]

NOT_FOUND_EXIT = 127
#: HTTP statuses of the API worth a retry: rate limited, server errors, overloaded
TRANSIENT_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
TAIL_BYTES = 8 * 1024
TAIL_LINES = 40
MAX_LINE = 1024 * 1024
CHUNK = 64 * 1024
REASON_MAX = 300
INTERRUPT_GRACE = 2.0
JOIN_TIMEOUT = 5.0
NESTING_VARS = ("CLAUDECODE", "CLAUDE_CODE_ENTRYPOINT")
ROOT_REFUSAL = "cannot be used with root/sudo privileges"
ROOT_REASON = (
    "Claude Code refuses --permission-mode bypassPermissions as root: set IS_SANDBOX=1 in the "
    "environment or choose another permission mode in roadmap_claude_args"
)
LOGIN_NEEDLES = ("Not logged in", "Invalid API key")
EventCallback = Callable[[Mapping[str, Any]], None]
#: maps another agent's JSON event to the stream-json event it stands for, or None to drop it;
#: a translated error result may add ``FAILURE_KIND``: "systemic" (every task would fail
#: alike: never retried, stops the run) or "transient" (worth a retry)
EventTranslator = Callable[[Mapping[str, Any]], Mapping[str, Any] | None]
FAILURE_KIND = "failure_kind"


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


@dataclass(frozen=True)
class AgentFailure:
    """Why a run failed, in one line; ``systemic`` when every other task would fail alike."""

    reason: str
    systemic: bool


@dataclass(frozen=True)
class AgentResult:
    """What happened to one agent run."""

    exit_code: int | None
    timed_out: bool
    interrupted: bool
    duration: float
    log_path: Path
    tail: str
    result_event: Mapping[str, Any] | None = None
    last_activity: str = ""
    turns: int = 0
    api_errors: tuple[int, ...] = ()
    init_session_id: str | None = None
    launch_error: str | None = None

    @property
    def cost_usd(self) -> float | None:
        """``total_cost_usd`` of the result event."""
        value = self._result_field("total_cost_usd")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        return None

    @property
    def session_id(self) -> str | None:
        """Session id from the result event, else from the ``system``/``init`` event."""
        value = self._result_field("session_id")
        return value if isinstance(value, str) else self.init_session_id

    @property
    def num_turns(self) -> int | None:
        """``num_turns`` of the result event."""
        value = self._result_field("num_turns")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def result_text(self) -> str | None:
        """``result`` of the result event, else its ``errors`` (as error_max_turns has)."""
        value = self._result_field("result")
        if isinstance(value, str):
            return value
        return _joined_errors(self._result_field("errors")) or None

    @property
    def is_error(self) -> bool:
        """The result event reports an error (``is_error`` or an ``error_*`` subtype)."""
        if self.result_event is None:
            return False
        subtype = self._result_field("subtype")
        return self._result_field("is_error") is True or (
            isinstance(subtype, str) and subtype.startswith("error_")
        )

    @property
    def ok(self) -> bool:
        """Exit code 0, not timed out or interrupted, and no error in the result event."""
        return (
            self.exit_code == 0
            and not self.timed_out
            and not self.interrupted
            and not self.is_error
        )

    @property
    def transient(self) -> bool:
        """A failure worth retrying: the API was overloaded or rate limited, or the agent
        was killed by a signal before its first turn."""
        if self.ok or self.timed_out or self.interrupted or self.launch_error:
            return False
        kind = self._declared_kind()
        if kind is not None:
            return kind == "transient"
        status = self._result_field("api_error_status")
        if isinstance(status, int) and status in TRANSIENT_STATUS:
            return True
        if self.result_event is None and self.api_errors:
            return self.api_errors[-1] in TRANSIENT_STATUS
        crashed = self.exit_code is not None and self.exit_code < 0
        return crashed and self.result_event is None and self.turns == 0

    def failure(self, task_id: str, timeout: float) -> AgentFailure | None:
        """Classify a failed run; ``None`` when :attr:`ok`."""
        if self.timed_out:
            reason = f"Task {task_id} timed out after {timeout:g}s"
            if self.api_errors:  # the CLI was retrying the API when time ran out
                reason += (
                    f" while the API kept failing (HTTP {self.api_errors[-1]}, "
                    f"{len(self.api_errors)} retries in the log)"
                )
            return AgentFailure(reason, systemic=False)
        if self.interrupted:
            return AgentFailure(f"Task {task_id} was interrupted", systemic=False)
        if self.ok:
            return None
        return (
            self._launch_failure()
            or self._root_failure()
            or self._declared_failure()
            or self._login_failure()
            or self._error_event_failure()
            or self._exit_failure()
        )

    def _result_field(self, key: str) -> Any:
        return None if self.result_event is None else self.result_event.get(key)

    def _texts(self) -> list[str]:
        """Texts to search for known messages: the result text, or the tail without one."""
        if self.result_event is not None:
            return [self.result_text or ""]
        return [self.tail]

    def _launch_failure(self) -> AgentFailure | None:
        if self.launch_error is not None:
            return AgentFailure(self.launch_error, systemic=True)
        if self.exit_code == NOT_FOUND_EXIT:
            return AgentFailure(
                _suffixed(
                    f"agent exited with code {NOT_FOUND_EXIT} (command not found)", self.tail
                ),
                systemic=True,
            )
        return None

    def _root_failure(self) -> AgentFailure | None:
        if any(ROOT_REFUSAL in text for text in self._texts()):
            return AgentFailure(ROOT_REASON, systemic=True)
        return None

    def _declared_kind(self) -> str | None:
        """``FAILURE_KIND`` of an error result: "systemic", "transient" or None."""
        kind = self._result_field(FAILURE_KIND) if self.is_error else None
        return kind if kind in ("systemic", "transient") else None

    def _declared_failure(self) -> AgentFailure | None:
        if self._declared_kind() != "systemic":
            return None
        return AgentFailure(_one_line(self.result_text or "the agent reported an error"), True)

    def _login_failure(self) -> AgentFailure | None:
        for text in self._texts():
            line = _line_with(text, LOGIN_NEEDLES)
            if line:
                return AgentFailure(_one_line(f"Claude Code is not logged in ({line})"), True)
        if self._result_field("api_error_status") == 401 or 401 in self.api_errors:
            detail = self.result_text or "the API answered 401 Unauthorized"
            return AgentFailure(_one_line(f"Claude Code is not logged in ({detail})"), True)
        return None

    def _error_event_failure(self) -> AgentFailure | None:
        if not self.is_error:
            return None
        subtype = self._result_field("subtype")
        text = self.result_text
        if isinstance(subtype, str) and subtype and subtype != "success":
            reason = f"{subtype}: {text}" if text else subtype
        else:
            reason = text or "the agent reported an error"
        return AgentFailure(_one_line(reason), systemic=False)

    def _exit_failure(self) -> AgentFailure:
        code = self.exit_code
        if code is None:
            return AgentFailure("agent did not finish", systemic=False)
        if code < 0:
            return AgentFailure(f"agent was killed by signal {_signal_name(-code)}", False)
        prefix = f"agent exited with code {code}"
        if self.result_event is not None:  # the last line is that event's JSON: say its text
            return AgentFailure(
                _one_line(f"{prefix}: {self.result_text or ''}".rstrip(": ")), False
            )
        return AgentFailure(_suffixed(prefix, self.tail), False)


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
) -> AgentResult:
    """Run ``cmd`` to completion, timeout or interrupt; append all its output to ``log_path``.

    ``timeout`` <= 0 or infinite means no limit. On timeout the whole process tree
    is killed (SIGTERM, ``kill_grace`` seconds, SIGKILL). An exception arriving
    while waiting (KeyboardInterrupt...) kills the tree too and is re-raised with
    the partial result attached (see :func:`interrupted_result`). ``on_event`` is
    called from a reader thread for every stream-json event.
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
        return _supervise(proc, cmd, log, log_path, started, timeout, on_event, kill_grace)


def kill_tree(pid: int, grace: float) -> None:
    """Kill ``pid``, its process group and all its descendants, even those in other sessions.

    Sends SIGTERM, waits up to ``grace`` seconds, then SIGKILLs whatever is left.
    An exception during the grace period (a second Ctrl-C) skips straight to SIGKILL
    and propagates.
    """
    procs = _tree(pid)
    _signal_all(pid, procs, signal.SIGTERM)
    try:
        _wait_gone(procs, grace)
    finally:
        procs = _merge(procs, _tree(pid))
        _signal_all(pid, procs, signal.SIGKILL)
        _wait_gone(procs, JOIN_TIMEOUT)


# -- supervision -------------------------------------------------------------------------------


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the process that started it dies (Linux).

    The agent runs in a session of its own, so a ``kill -9`` of pytest would otherwise
    leave it running on beside the next run's agent for the same task.
    """
    if _PRCTL is not None:
        _PRCTL(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    return getattr(libc, "prctl", None)


PR_SET_PDEATHSIG = 1
_PRCTL = _load_prctl()


@functools.cache
def _setpriv() -> str | None:
    """util-linux ``setpriv``, when it can set the parent-death signal, else None."""
    found = shutil.which("setpriv") if _PRCTL is not None else None
    if found is None:
        return None
    try:
        probe = subprocess.run(
            [found, "--pdeathsig", "TERM", "--", found, "--version"],
            capture_output=True,
            timeout=JOIN_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return found if probe.returncode == 0 else None


def _launch(cmd: AgentCommand) -> tuple[list[str], Callable[[], None] | None]:
    """The argv to start and the ``preexec_fn``, so that the agent dies with its parent.

    ``setpriv --pdeathsig`` execs the agent in place (same pid); it keeps ``Popen`` on its
    fast path, whereas any ``preexec_fn`` makes it fork the whole interpreter (about 4 ms
    more per agent start, measured). The prctl call in ``preexec_fn`` stays the fallback,
    and the path of least surprise for relative commands and failed look-ups: ``Popen``
    then reports a missing or non-executable command itself.
    """
    argv0 = cmd.argv[0]
    wrapper = _setpriv()
    if wrapper is not None and (os.sep not in argv0 or os.path.isabs(argv0)):
        found = shutil.which(argv0, path=cmd.env.get("PATH", os.defpath))
        if found is not None:
            return [wrapper, "--pdeathsig", "TERM", "--", found, *cmd.argv[1:]], None
    return list(cmd.argv), _die_with_parent if _PRCTL is not None else None


def _spawn(cmd: AgentCommand) -> subprocess.Popen[bytes]:
    argv, preexec = _launch(cmd)
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


def _supervise(
    proc: subprocess.Popen[bytes],
    cmd: AgentCommand,
    log: _Log,
    log_path: Path,
    started: float,
    timeout: float,
    on_event: EventCallback | None,
    kill_grace: float,
) -> AgentResult:
    assert proc.stdout is not None
    reader = _Reader(proc.stdout, log, cmd.reads_stream_json, on_event, cmd.translate_event)
    threads: list[threading.Thread] = []
    timed_out = False
    try:
        threads.append(reader.start())
        if proc.stdin is not None and (writer := _write_stdin(proc.stdin, cmd.stdin or b"")):
            threads.append(writer)
        timed_out = _wait(proc, timeout, kill_grace)
    except BaseException as exc:
        with contextlib.suppress(BaseException):  # a second Ctrl-C only skips the grace period
            kill_tree(proc.pid, min(kill_grace, INTERRUPT_GRACE))
        with contextlib.suppress(BaseException):  # ...but must not stop the kill: kill again
            kill_tree(proc.pid, 0)
        result = _finish(proc, reader, threads, log, log_path, started, interrupted=True)
        log.note(f"=== roadmap agent end: interrupted ({type(exc).__name__}); killed")
        with contextlib.suppress(Exception):
            exc.agent_result = result  # type: ignore[attr-defined]
        raise
    result = _finish(proc, reader, threads, log, log_path, started, timed_out=timed_out)
    log.note(_end_note(result))
    return result


def _wait(proc: subprocess.Popen[bytes], timeout: float, kill_grace: float) -> bool:
    """Wait for the agent; kill its tree on timeout (True) or its group's orphans on exit."""
    limit = None if timeout <= 0 or math.isinf(timeout) else timeout
    if not _exit_event(proc).wait(limit):
        kill_tree(proc.pid, kill_grace)
        return True
    _kill_orphans(proc.pid)
    return False


def _exit_event(proc: subprocess.Popen[bytes]) -> threading.Event:
    """An event set when the agent exits: a blocking waitpid in a thread, no polling.

    ``Popen.wait(timeout=...)`` polls with sleeps of up to 50 ms, which every task paid.
    """
    exited = threading.Event()

    def reap() -> None:
        proc.wait()
        exited.set()

    threading.Thread(target=reap, name="roadmap-agent-reaper", daemon=True).start()
    return exited


def _finish(
    proc: subprocess.Popen[bytes],
    reader: _Reader,
    threads: list[threading.Thread],
    log: _Log,
    log_path: Path,
    started: float,
    *,
    timed_out: bool = False,
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
    killed = timed_out or interrupted
    return reader.state.result(
        exit_code=None if killed else proc.returncode,
        timed_out=timed_out,
        interrupted=interrupted,
        duration=time.monotonic() - started,
        log_path=log_path,
        tail=reader.tail(),
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
        reason = _one_line(f"cannot start agent {argv0}: {exc}")
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
    what = "timed out; killed" if result.timed_out else f"exit code {result.exit_code}"
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


class _LineSplitter:
    """Split a byte stream into the lines that start with ``{``; drop lines over ``limit``."""

    def __init__(self, limit: int = MAX_LINE) -> None:
        self._limit = limit
        self._buf = bytearray()
        self._overflow = False

    def feed(self, data: bytes) -> list[bytes]:
        *complete, rest = data.split(b"\n")
        lines: list[bytes] = []
        for part in complete:
            if not self._overflow and len(self._buf) + len(part) <= self._limit:
                line = bytes(self._buf) + part if self._buf else part
                if line.startswith(b"{"):
                    lines.append(line)
            self._buf.clear()
            self._overflow = False
        self._keep(rest)
        return lines

    def close(self) -> list[bytes]:
        """The last line, when the stream did not end with a newline."""
        line = b"" if self._overflow else bytes(self._buf)
        self._buf.clear()
        return [line] if line.startswith(b"{") else []

    def _keep(self, part: bytes) -> None:
        if self._overflow:
            return
        if len(self._buf) + len(part) > self._limit:
            self._overflow = True
            self._buf.clear()
        else:
            self._buf += part


class StreamState:
    """What we learn from stream-json events."""

    def __init__(self) -> None:
        self.result_event: Mapping[str, Any] | None = None
        self.init_session_id: str | None = None
        self.last_activity = ""
        self.turns = 0
        self.api_errors: list[int] = []

    def update(self, event: Mapping[str, Any]) -> None:
        kind = event.get("type")
        if kind == "result":
            self.result_event = event
        elif kind == "system":
            self._system(event)
        elif kind == "assistant":
            self.turns += 1
            self._assistant(event.get("message"))

    def _system(self, event: Mapping[str, Any]) -> None:
        subtype = event.get("subtype")
        session = event.get("session_id")
        if subtype == "init" and self.init_session_id is None and isinstance(session, str):
            self.init_session_id = session
        status = event.get("error_status")
        if subtype == "api_retry" and isinstance(status, int) and not isinstance(status, bool):
            self.api_errors.append(status)

    def _assistant(self, message: Any) -> None:
        content = message.get("content") if isinstance(message, dict) else None
        for block in content if isinstance(content, list) else ():
            if not isinstance(block, dict):
                continue
            if block.get("type") == "tool_use" and isinstance(block.get("name"), str):
                self.last_activity = block["name"]
            elif block.get("type") in ("text", "thinking"):
                self.last_activity = block["type"]

    def result(self, **fields: Any) -> AgentResult:
        return AgentResult(
            result_event=self.result_event,
            last_activity=self.last_activity,
            turns=self.turns,
            api_errors=tuple(self.api_errors),
            init_session_id=self.init_session_id,
            **fields,
        )


class EventStream:
    """Bytes of stream-json in; events out: complete JSON lines, translated when the agent's
    events are not Claude Code's, each also learnt by :attr:`state`."""

    def __init__(self, translate: EventTranslator | None = None) -> None:
        self.state = StreamState()
        self.translate_error = ""  # the first exception the translator raised
        self._lines = _LineSplitter()
        self._translate = translate

    def feed(self, data: bytes) -> list[Mapping[str, Any]]:
        """The events completed by ``data``."""
        return self._events(self._lines.feed(data))

    def close(self) -> list[Mapping[str, Any]]:
        """The event of a last line without a newline, if any."""
        return self._events(self._lines.close())

    def _events(self, lines: Iterable[bytes]) -> list[Mapping[str, Any]]:
        events = []
        for line in lines:
            try:
                event = json.loads(line)
            except (ValueError, RecursionError):
                continue
            if isinstance(event, dict) and self._translate is not None:
                event = self._translated(event)
            if isinstance(event, Mapping):
                self.state.update(event)
                events.append(event)
        return events

    def _translated(self, event: Mapping[str, Any]) -> Mapping[str, Any] | None:
        assert self._translate is not None
        try:
            return self._translate(event)
        except Exception as exc:  # a broken translator must not stop the reading
            self.translate_error = self.translate_error or _one_line(repr(exc))
            return None


class _Reader(threading.Thread):
    """Drain the agent's stdout into the log, a bounded tail and (optionally) the event parser."""

    def __init__(
        self,
        pipe: IO[bytes],
        log: _Log,
        parse_json: bool,
        on_event: EventCallback | None,
        translate: EventTranslator | None = None,
    ) -> None:
        super().__init__(name="roadmap-agent-stdout", daemon=True)
        self._pipe = pipe
        self._log = log
        self._stream = EventStream(translate) if parse_json else None
        self._on_event = on_event
        self._tail = bytearray()
        self._callback_error = ""

    def start(self) -> _Reader:  # type: ignore[override]
        super().start()
        return self

    def run(self) -> None:
        read = getattr(self._pipe, "read1", self._pipe.read)
        try:
            while chunk := read(CHUNK):
                self._log.write(chunk)
                self._keep_tail(chunk)
                if self._stream is not None:
                    self._notify(self._stream.feed(chunk))
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
        return self._stream.state if self._stream is not None else StreamState()

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
                self._callback_error = self._callback_error or _one_line(repr(exc))


# -- killing -----------------------------------------------------------------------------------


def _tree(pid: int) -> list[psutil.Process]:
    """``pid`` and its descendants, wherever their session; [] when it is gone."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def _merge(first: list[psutil.Process], second: list[psutil.Process]) -> list[psutil.Process]:
    seen = {proc.pid for proc in first}
    return first + [proc for proc in second if proc.pid not in seen]


def _kill_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _kill_orphans(pgid: int) -> None:
    """SIGKILL what the exited agent left in its process group and wait until it is gone."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return  # the usual case: nothing left
    _wait_gone(_group_members(pgid), JOIN_TIMEOUT)


def _group_members(pgid: int) -> list[psutil.Process]:
    members = []
    for proc in psutil.process_iter():
        with contextlib.suppress(OSError, psutil.Error):
            if os.getpgid(proc.pid) == pgid:
                members.append(proc)
    return members


def _signal_all(pgid: int, procs: list[psutil.Process], sig: signal.Signals) -> None:
    _kill_group(pgid, sig)
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(sig)


def _wait_gone(procs: list[psutil.Process], timeout: float) -> None:
    """Wait until every process has exited (a zombie counts as exited) or ``timeout`` passed."""
    deadline = time.monotonic() + timeout
    alive = procs
    while alive:
        _gone, alive = psutil.wait_procs(alive, timeout=0.05)
        alive = [proc for proc in alive if _running(proc)]
        if time.monotonic() >= deadline:
            return


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


# -- text --------------------------------------------------------------------------------------


def _one_line(text: str, limit: int = REASON_MAX) -> str:
    """Collapse whitespace runs (newlines included) to single spaces; cap the length."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def _suffixed(prefix: str, tail: str) -> str:
    last = _last_line(tail)
    return _one_line(f"{prefix}: {last}" if last else prefix)


def _line_with(text: str, needles: Iterable[str]) -> str:
    """The last line of ``text`` that contains one of ``needles``, stripped; '' if none."""
    needles = tuple(needles)
    for line in reversed(text.splitlines()):
        if any(needle in line for needle in needles):
            return line.strip()
    return ""


def _joined_errors(errors: Any) -> str:
    if isinstance(errors, list):
        return "; ".join(str(error) for error in errors)
    return ""


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")
