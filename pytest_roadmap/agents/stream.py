"""What an agent said: its stream-json events, and the outcome they add up to.

No pytest and no processes here (those are :mod:`pytest_roadmap.agents.run`'s). :class:`EventStream`
turns the bytes an agent prints into events (translated when the agent's JSON is not
Claude Code's) and :class:`StreamState` keeps what they say. :class:`AgentResult` is one
agent run's outcome; :meth:`AgentResult.failure` says why it failed, in one line, and
whether every other task would fail the same way.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_roadmap.agents import limits
from pytest_roadmap.agents.limits import UsageLimit
from pytest_roadmap.model import usage
from pytest_roadmap.model.usage import WindowUsage
from pytest_roadmap.settings import name
from pytest_roadmap.text import one_line

__all__ = [
    "FAILURE_KIND",
    "NOT_FOUND_EXIT",
    "TRANSIENT_STATUS",
    "AgentFailure",
    "AgentResult",
    "EventStream",
    "EventTranslator",
    "StreamState",
    "one_line",
]

NOT_FOUND_EXIT = 127
#: HTTP statuses of the API worth a retry: rate limited, server errors, overloaded
TRANSIENT_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
MAX_LINE = 1024 * 1024
ROOT_REFUSAL = "cannot be used with root/sudo privileges"
ROOT_REASON = (
    "Claude Code refuses --permission-mode bypassPermissions as root: set IS_SANDBOX=1 in the "
    f"environment or choose another permission mode in {name('claude_args')}"
)
LOGIN_NEEDLES = ("Not logged in", "Invalid API key")
#: API statuses that refuse the credentials themselves: no retry, nor any other task, helps
REFUSED_STATUS = frozenset({401, 403})
#: the CLI's consecutive retries of refused credentials after which the agent is ended:
#: one refusal followed by success happens (Claude Code 2.1 renews its login and goes on,
#: measured), two in a row mean the key or login is bad; its third try would come ~3 s in
REFUSED_AFTER = 2
#: maps another agent's JSON event to the stream-json event it stands for, or None to drop it;
#: a translated error result may add ``FAILURE_KIND``: "systemic" (every task would fail
#: alike: never retried, stops the run) or "transient" (worth a retry)
EventTranslator = Callable[[Mapping[str, Any]], Mapping[str, Any] | None]
FAILURE_KIND = "failure_kind"


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
    #: the idle timeout that ended a silent agent
    stalled_after: float | None = None
    #: the usage limit a ``rate_limit_event`` reported as reached
    limit_event: UsageLimit | None = None
    #: the highest resident memory of the agent's process tree, in bytes (sampled)
    peak_rss: int | None = None
    #: the last utilization reported for each window of the account's allowance
    usage: tuple[WindowUsage, ...] = ()
    #: the model the ``system``/``init`` event names
    init_model: str | None = None

    @property
    def model(self) -> str | None:
        """The model the agent used: its ``init`` event's, else the last of the result's
        ``modelUsage``."""
        used = self._result_field("modelUsage")
        named = [key for key in used if isinstance(key, str)] if isinstance(used, dict) else []
        return self.init_model or (named[-1] if named else None)

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
        if self.stalled_after is not None:
            return not self.interrupted
        if self.ok or self.timed_out or self.interrupted or self.launch_error:
            return False
        if self.usage_limit is not None:
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

    @property
    def usage_limit(self) -> UsageLimit | None:
        """The usage limit that stopped the agent: from its ``rate_limit_event``, or its
        result's words (or the API error ``usage_limit_reached``); None when none did."""
        if self.ok or self.interrupted:
            return None
        if self.limit_event is not None:
            text = self.result_text or ""
            found = limits.from_text(text) if text else None
            resets = self.limit_event.resets_at or (found.resets_at if found else None)
            return UsageLimit(self.limit_event.kind, resets, one_line(text))
        error = self._result_field("api_error")
        texts = self._texts() if self.is_error or self.result_event is None else []
        for text in texts:
            found = limits.from_text(text, error=error if isinstance(error, str) else "")
            if found is not None:
                return found
        return None

    def failure(self, task_id: str, timeout: float) -> AgentFailure | None:
        """Classify a failed run; ``None`` when :attr:`ok`."""
        if self.stalled_after is not None and not self.interrupted:
            return AgentFailure(
                f"Task {task_id} stalled: no output for {self.stalled_after:g}s", systemic=False
            )
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
            or self._limit_failure()
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

    def _limit_failure(self) -> AgentFailure | None:
        limit = self.usage_limit
        if limit is None:
            return None
        return AgentFailure(one_line(f"{limit.label} reached: {limit.text}".rstrip(": ")), False)

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
        return AgentFailure(one_line(self.result_text or "the agent reported an error"), True)

    def _login_failure(self) -> AgentFailure | None:
        for text in self._texts():
            line = _line_with(text, LOGIN_NEEDLES)
            if line:
                return AgentFailure(one_line(f"Claude Code is not logged in ({line})"), True)
        status = self._result_field("api_error_status")
        refused = status if status in REFUSED_STATUS else None
        if refused is None and self.api_errors and self.api_errors[-1] in REFUSED_STATUS:
            refused = self.api_errors[-1]
        if refused == 401:
            detail = self.result_text or "the API answered 401 Unauthorized"
            return AgentFailure(one_line(f"Claude Code is not logged in ({detail})"), True)
        if refused == 403:
            detail = self.result_text or "the API answered 403 Forbidden"
            return AgentFailure(
                one_line(f"the API refused Claude Code's credentials ({detail})"), True
            )
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
        return AgentFailure(one_line(reason), systemic=False)

    def _exit_failure(self) -> AgentFailure:
        code = self.exit_code
        if code is None:
            return AgentFailure("agent did not finish", systemic=False)
        if code < 0:
            return AgentFailure(f"agent was killed by signal {_signal_name(-code)}", False)
        prefix = f"agent exited with code {code}"
        if self.result_event is not None:  # the last line is that event's JSON: say its text
            return AgentFailure(one_line(f"{prefix}: {self.result_text or ''}".rstrip(": ")), False)
        return AgentFailure(_suffixed(prefix, self.tail), False)


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
        self.init_model: str | None = None
        self.last_activity = ""
        self.turns = 0
        self.api_errors: list[int] = []
        #: consecutive retries of refused credentials (reset by an answer)
        self.refusals = 0
        #: the usage limit reached, and the first warning that it is close
        self.limit: UsageLimit | None = None
        self.limit_warning: UsageLimit | None = None
        #: the last utilization of each window, and how many events reported one
        self.usage: dict[str, WindowUsage] = {}
        self.usage_reports = 0

    @property
    def refused(self) -> bool:
        """The API refused the credentials again and again: nothing more will come."""
        return self.refusals >= REFUSED_AFTER

    def update(self, event: Mapping[str, Any]) -> None:
        kind = event.get("type")
        if kind == "result":
            self.result_event = event
        elif kind == "system":
            self._system(event)
        elif kind == "assistant":
            self.turns += 1
            self.refusals = 0
            self._assistant(event.get("message"))
        elif kind == "rate_limit_event":
            self._rate_limit(event)

    def _system(self, event: Mapping[str, Any]) -> None:
        subtype = event.get("subtype")
        session = event.get("session_id")
        if subtype == "init" and self.init_session_id is None and isinstance(session, str):
            self.init_session_id = session
        if subtype == "init" and isinstance(event.get("model"), str):
            self.init_model = event["model"]
        status = event.get("error_status")
        if subtype == "api_retry" and isinstance(status, int) and not isinstance(status, bool):
            self.api_errors.append(status)
            self.refusals = self.refusals + 1 if status in REFUSED_STATUS else 0

    def _rate_limit(self, event: Mapping[str, Any]) -> None:
        windows = usage.from_event(event)
        if windows:
            self.usage.update((window.kind, window) for window in windows)
            self.usage_reports += 1
        found = limits.from_rate_limit_event(event)
        if found is None:
            return
        if not found.warning:
            self.limit = found
        elif self.limit_warning is None:
            self.limit_warning = found

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
            limit_event=self.limit,
            usage=tuple(self.usage.values()),
            init_model=self.init_model,
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
            self.translate_error = self.translate_error or one_line(repr(exc))
            return None


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def _suffixed(prefix: str, tail: str) -> str:
    last = _last_line(tail)
    return one_line(f"{prefix}: {last}" if last else prefix)


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
