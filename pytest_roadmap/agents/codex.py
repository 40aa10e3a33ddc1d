"""The ``codex`` preset: OpenAI's Codex CLI (``codex exec --json``), its events read as
Claude Code's stream-json."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pytest_roadmap.agents.limits import USAGE_LIMIT_ERROR
from pytest_roadmap.agents.run import AgentCommand
from pytest_roadmap.agents.run import task_env
from pytest_roadmap.agents.stream import FAILURE_KIND
from pytest_roadmap.agents.stream import TRANSIENT_STATUS
from pytest_roadmap.model.plan import Step
from pytest_roadmap.settings import Settings
from pytest_roadmap.settings import name

CODEX_BIN = "codex"

#: ``codex exec --json``: headless, one JSON event per line on stdout; ``-`` reads the prompt
CODEX_HEADLESS = ("exec", "--json")

CODEX_PERMISSIONS = ("--dangerously-bypass-approvals-and-sandbox",)

#: arguments of settings.agent_args that choose the sandbox or approvals themselves
CODEX_OWN_PERMISSIONS = (
    "-s",
    "--sandbox",
    "--dangerously-bypass-approvals-and-sandbox",
    "--full-auto",
    "--approve-for-me",
)

CODEX_INSTALL_HINT = (
    f"Codex CLI not found! Install it (npm install -g @openai/codex) or set {name('agent_bin')}"
)

#: codex items that are the agent acting (reported as its last activity)
CODEX_ACTIONS = frozenset(
    {"command_execution", "file_change", "mcp_tool_call", "web_search", "todo_list"}
)

# Codex's error messages, as codex-rs/core/src/error.rs words them and codex-cli 0.169.0
# printed them against a stand-in API server (401, 429, 500, 503, quota, usage limit, a
# stream cut short): "unexpected status 401 Unauthorized: <body>, url: …", "exceeded retry
# limit, last status: 429 Too Many Requests", "stream disconnected before completion: …".
#: the HTTP status in a message ("status 503 Service Unavailable", "(429 Too Many Requests)")
CODEX_STATUS = re.compile(r"\bstatus(?: (?:client|server) error)?:? \(?([1-5]\d\d)\b")

#: each of ``error``'s own retries: "Reconnecting... 2/5 (<the error>)"
CODEX_RECONNECTING = re.compile(r"Reconnecting\.\.\. (\d+)/\d+ \((.*)\)\Z", re.DOTALL)

#: codex's message for HTTP 500 (no status in it): "We're currently experiencing high demand"
CODEX_HIGH_DEMAND = "currently experiencing high demand"

#: statuses no retry or other task gets past: unauthorized, forbidden
CODEX_SYSTEMIC_STATUS = frozenset({401, 403})

#: not logged in: no API key (EnvVarError), an expired or revoked login (RefreshTokenFailed)
CODEX_LOGIN_NEEDLES = ("missing environment variable: `", "sign in again", "codex login")

#: the account's quota (billing): no retry helps, nor does another task
CODEX_QUOTA_NEEDLES = ("quota exceeded",)

#: the plan's usage limit: the run waits for its reset (see pytest_roadmap.agents.limits)
CODEX_USAGE_LIMIT = "hit your usage limit"

#: rate limits, overload, a dropped connection or stream: worth a retry
CODEX_TRANSIENT_NEEDLES = (
    "rate limit",
    "too many requests",
    "overloaded",
    CODEX_HIGH_DEMAND,
    "stream disconnected",
    "exceeded retry limit",
    "connection failed",
    "error while reading the server response",
)


def codex_bin(settings: Settings) -> str:
    """The Codex CLI: ``settings.agent_bin`` or ``codex``, as found on PATH (else as given)."""
    name = settings.agent_bin or CODEX_BIN
    found = shutil.which(name)
    return str(Path(found).absolute()) if found else name


def codex_argv(settings: Settings, resume: str | None = None) -> tuple[str, ...]:
    """``codex exec --json --dangerously-bypass-approvals-and-sandbox [args] [resume ID] -``.

    The prompt comes on stdin (``-``). ``settings.agent_args`` that pick a sandbox or
    approval mode replace the bypass.
    """
    own = any(arg.startswith(CODEX_OWN_PERMISSIONS) for arg in settings.agent_args)
    permissions = () if own else CODEX_PERMISSIONS
    session = ("resume", resume) if resume else ()
    return (codex_bin(settings), *CODEX_HEADLESS, *permissions, *settings.agent_args, *session, "-")


def codex_command(
    settings: Settings, step: Step, prompt: str, log: Path, cwd: Path, resume: str | None
) -> AgentCommand:
    return AgentCommand(
        codex_argv(settings, resume),
        cwd,
        task_env(step, log, resume),
        prompt.encode(),
        True,
        translate_event=CodexEvents(),
    )


class CodexEvents:
    """Turns ``codex exec --json`` events into the stream-json events ``AgentResult`` reads.

    ``thread.started`` gives the session id (``system``/``init``), so that
    ``settings.resume_sessions`` can continue it with ``codex exec resume <id>``;
    agent messages and actions count as ``assistant`` turns; ``turn.completed`` is a
    success result and ``turn.failed`` an error result whose text is the failure
    reason, classified by :func:`codex_error_kind` (not logged in, quota:
    systemic; rate limits, 5xx, dropped streams: transient). The ``error`` events before
    a ``turn.failed`` are codex's own retries ("Reconnecting... 2/5 (…)"): those with a
    transient HTTP status become ``api_retry`` events. One instance per agent run.
    """

    def __init__(self) -> None:
        self.thread_id: str | None = None
        self.last_message: str | None = None
        self._started: set[str] = set()

    def __call__(self, event: Mapping[str, Any]) -> Mapping[str, Any] | None:
        kind = event.get("type")
        if kind == "thread.started":
            thread = event.get("thread_id")
            if isinstance(thread, str) and thread:
                self.thread_id = thread
                return {"type": "system", "subtype": "init", "session_id": thread}
            return None
        if kind in ("item.started", "item.completed"):
            item = event.get("item")
            return self._item(kind, item) if isinstance(item, dict) else None
        if kind == "turn.completed":
            return self._result(is_error=False, text=self.last_message)
        if kind == "turn.failed":
            return self._failed(_codex_error(event.get("error")))
        if kind == "error":
            return _api_retry(event.get("message"))
        return None

    def _item(self, kind: str, item: Mapping[str, Any]) -> Mapping[str, Any] | None:
        item_type = item.get("type")
        item_id = str(item.get("id"))
        if kind == "item.completed" and item_type == "agent_message":
            text = item.get("text")
            self.last_message = text if isinstance(text, str) else self.last_message
            return _assistant({"type": "text", "text": self.last_message or ""})
        if kind == "item.completed" and item_type == "reasoning":
            return _assistant({"type": "thinking"})
        if item_type in CODEX_ACTIONS and item_id not in self._started:
            self._started.add(item_id)
            return _assistant({"type": "tool_use", "name": item_type})
        return None

    def _failed(self, message: str) -> Mapping[str, Any]:
        """The error result of a ``turn.failed``, with its HTTP status and failure kind."""
        kind, status = codex_error_kind(message)
        login = kind == "systemic" and _is_login(message, status)
        prefix = "Codex is not logged in" if login else "Codex turn failed"
        result = dict(self._result(is_error=True, text=f"{prefix}: {message}"))
        if CODEX_USAGE_LIMIT in message.casefold():
            result["api_error"] = USAGE_LIMIT_ERROR
        if status is not None:
            result["api_error_status"] = status
        if kind is not None:
            result[FAILURE_KIND] = kind
        return result

    def _result(self, *, is_error: bool, text: str | None) -> Mapping[str, Any]:
        result: dict[str, Any] = {"type": "result", "is_error": is_error}
        if not is_error:
            result["subtype"] = "success"
        if text is not None:
            result["result"] = text
        if self.thread_id is not None:
            result["session_id"] = self.thread_id
        return result


def codex_error_kind(message: str) -> tuple[str | None, int | None]:
    """How a Codex error counts: "systemic", "transient" or None (this task's own failure).

    Also the HTTP status the message names (500 for codex's "high demand"), or None.
    """
    status = _codex_status(message)
    if status in CODEX_SYSTEMIC_STATUS:
        return "systemic", status
    if status in TRANSIENT_STATUS:
        return "transient", status
    text = message.casefold()
    if any(needle in text for needle in CODEX_LOGIN_NEEDLES + CODEX_QUOTA_NEEDLES):
        return "systemic", status
    if any(needle in text for needle in CODEX_TRANSIENT_NEEDLES):
        return "transient", status
    return None, status


def _codex_status(message: str) -> int | None:
    match = CODEX_STATUS.search(message)
    if match:
        return int(match[1])
    return 500 if CODEX_HIGH_DEMAND in message else None


def _is_login(message: str, status: int | None) -> bool:
    text = message.casefold()
    return status == 401 or any(needle in text for needle in CODEX_LOGIN_NEEDLES)


def _api_retry(message: Any) -> Mapping[str, Any] | None:
    """codex retrying the API ("Reconnecting... 2/5 (…)") as Claude Code's ``api_retry``.

    Only retries with a transient HTTP status count: the runner reads them when the
    agent dies or times out before its turn ends.
    """
    match = CODEX_RECONNECTING.match(message) if isinstance(message, str) else None
    status = _codex_status(match[2]) if match else None
    if match is None or status not in TRANSIENT_STATUS:
        return None
    return {
        "type": "system",
        "subtype": "api_retry",
        "error_status": status,
        "attempt": int(match[1]),
    }


def _assistant(block: Mapping[str, Any]) -> Mapping[str, Any]:
    return {"type": "assistant", "message": {"content": [dict(block)]}}


def _codex_error(error: Any) -> str:
    """The message of a ``turn.failed`` error; a JSON error body inside it is unwrapped."""
    message = error.get("message") if isinstance(error, dict) else error
    if not isinstance(message, str) or not message.strip():
        return "unknown error"
    try:
        body = json.loads(message)
    except (ValueError, RecursionError):
        return message
    inner = body.get("error") if isinstance(body, dict) else None
    detail = inner.get("message") if isinstance(inner, dict) else None
    return detail if isinstance(detail, str) and detail else message
