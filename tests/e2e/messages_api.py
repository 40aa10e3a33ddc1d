"""A small scripted Anthropic Messages API server for end-to-end tests.

The real Claude Code CLI is pointed at it with ``ANTHROPIC_BASE_URL``; the
server answers each turn of each task from a script the test wrote::

    with MessagesAPI({"A1": [bash("touch a1.txt"), text("Done.")]}) as api:
        env["ANTHROPIC_BASE_URL"] = api.url
        ...
        assert api.requests_for("A1")

Scripting: a script is a list of steps, consumed one per ``/v1/messages``
request of that task (a per-task cursor):

- ``bash(command)``: answer a ``tool_use`` block for the Bash tool, stop_reason tool_use.
- ``tool_use(name, input)``: the same for any tool.
- ``text(msg)``: answer a text block, stop_reason end_turn.
- ``sleep(seconds)``: wait, then go on with the next step in the same request.
- ``status(code, message=None, retry_after=None)``: answer an HTTP error with
  the API's JSON error shape (429 gets a ``retry-after`` header).
- ``hang()``: never answer; the connection is held until the server stops.

When a task's script is used up, every further request gets end_turn "done".

Task matching: a request belongs to task ``X`` when its prompt contains a line
``Task id: X`` or the text ``Task X:`` (the plugin's prompt says "Implement
Phase 1, Group A, Task A1: <title>"). The prompt is the newest user text block
that is not a ``<system-reminder>``; reminder blocks (and reminder sections
inside a text block) are ignored, because the CLI's first user message carries
one with git status and recent commit subjects, which may name other tasks.
Tool results are not searched either. A request that matches no scripted task
uses the script under the key ``"*"`` if there is one, else gets "done".
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "DEFAULT_SCRIPT_KEY",
    "Bash",
    "Hang",
    "MessagesAPI",
    "RecordedRequest",
    "Sleep",
    "Status",
    "Step",
    "Text",
    "ToolUse",
    "bash",
    "hang",
    "prompt_text",
    "sleep",
    "status",
    "task_for_request",
    "text",
    "tool_use",
]

DEFAULT_SCRIPT_KEY = "*"
USAGE_LIMIT_MESSAGE = "This request would exceed your account's rate limit. Please try again later."
DONE_TEXT = "done"
#: seconds a limited answer waits, at most, for the other tasks that must meet the limit too
TOGETHER_WAIT = 60.0

# Headers never recorded: the API key and anything like it.
_SECRET_HEADERS = frozenset({"x-api-key", "authorization", "proxy-authorization"})

_REMINDER_RE = re.compile(r"<system-reminder>.*?(?:</system-reminder>|\Z)", re.DOTALL)

_ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}

_ERROR_MESSAGES: dict[int, str] = {
    400: "messages: scripted invalid request",
    401: "invalid x-api-key",
    403: "Your API key does not have permission to use the specified resource.",
    404: "Not found",
    413: "Request exceeds the maximum allowed number of bytes.",
    429: "Number of request tokens has exceeded your per-minute rate limit",
    500: "Internal server error",
    529: "Overloaded",
}


# --------------------------------------------------------------------- steps


@dataclass(frozen=True)
class ToolUse:
    """Answer with one tool_use block (stop_reason ``tool_use``)."""

    name: str
    input: Mapping[str, Any]
    preamble: str | None = None


@dataclass(frozen=True)
class Bash(ToolUse):
    """A ToolUse for the Bash tool."""


@dataclass(frozen=True)
class Text:
    """Answer with one text block (stop_reason ``end_turn``)."""

    text: str


@dataclass(frozen=True)
class Sleep:
    """Wait, then continue with the next step of the same request."""

    seconds: float


@dataclass(frozen=True)
class Status:
    """Answer with an HTTP error in the API's JSON error shape."""

    code: int
    message: str | None = None
    retry_after: float | None = None

    def body(self) -> dict[str, Any]:
        return {
            "type": "error",
            "error": {
                "type": _ERROR_TYPES.get(self.code, "api_error"),
                "message": self.message or _ERROR_MESSAGES.get(self.code, "Scripted error"),
            },
        }


@dataclass(frozen=True)
class Hang:
    """Never answer: hold the connection until the server stops."""


Step = ToolUse | Text | Sleep | Status | Hang


def bash(command: str, description: str | None = None, preamble: str | None = None) -> Bash:
    """A Bash tool call running ``command``."""
    return Bash(
        name="Bash",
        input={"command": command, "description": description or f"Run: {command}"[:80]},
        preamble=preamble,
    )


def tool_use(name: str, input: Mapping[str, Any], preamble: str | None = None) -> ToolUse:
    """A call of any tool."""
    return ToolUse(name=name, input=dict(input), preamble=preamble)


def text(msg: str) -> Text:
    """A final text answer."""
    return Text(msg)


def sleep(seconds: float) -> Sleep:
    """A pause before the next step."""
    return Sleep(seconds)


def status(code: int, message: str | None = None, retry_after: float | None = None) -> Status:
    """An HTTP error answer."""
    if code == 429 and retry_after is None:
        retry_after = 1
    return Status(code=code, message=message, retry_after=retry_after)


def hang() -> Hang:
    """No answer at all."""
    return Hang()


# ------------------------------------------------------------- task matching


def _text_blocks(content: Any) -> list[str]:
    """The text blocks of a message's content, reminders removed (tool results skipped)."""
    if isinstance(content, str):
        blocks = [content]
    elif isinstance(content, list):
        blocks = [
            b["text"]
            for b in content
            if isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str)
        ]
    else:
        return []
    out = []
    for block in blocks:
        stripped = _REMINDER_RE.sub("", block).strip()
        if stripped:
            out.append(stripped)
    return out


def prompt_text(body: Mapping[str, Any]) -> str | None:
    """The newest user text of a request that is not a system-reminder."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        return None
    for message in reversed(messages):
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        blocks = _text_blocks(message.get("content"))
        if blocks:
            return blocks[-1]
    return None


def _marker_re(task_id: str) -> re.Pattern[str]:
    tid = re.escape(task_id)
    return re.compile(rf"(?:(?<![\w-])Task {tid}:|^\s*Task id:\s*{tid}\s*$)", re.MULTILINE)


def task_for_request(body: Mapping[str, Any], task_ids: Iterable[str]) -> str | None:
    """Which of ``task_ids`` a request's prompt names (see the module doc), if any."""
    prompt = prompt_text(body)
    if prompt is None:
        return None
    hits = [tid for tid in task_ids if tid != DEFAULT_SCRIPT_KEY and _marker_re(tid).search(prompt)]
    if not hits:
        return None
    # Several hits only if one prompt names several tasks: the longest id wins.
    return max(hits, key=len)


# ------------------------------------------------------------------ recording


@dataclass(frozen=True)
class RecordedRequest:
    """One request the server received."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any
    task: str | None
    received_at: float = field(default_factory=time.monotonic)
    #: answered with the usage limit (see :meth:`MessagesAPI.usage_limit`)
    limited: bool = False

    @property
    def is_messages(self) -> bool:
        return self.method == "POST" and self.path == "/v1/messages"

    def tool_results(self) -> list[dict[str, Any]]:
        """tool_result blocks of the newest message (the CLI's answer to our tool_use)."""
        if not isinstance(self.body, dict):
            return []
        messages = self.body.get("messages") or []
        if not messages or not isinstance(messages[-1].get("content"), list):
            return []
        return [
            b
            for b in messages[-1]["content"]
            if isinstance(b, dict) and b.get("type") == "tool_result"
        ]


# --------------------------------------------------------------------- server

_ids = itertools.count(1)


def _new_id(prefix: str) -> str:
    return f"{prefix}_e2e{next(_ids):020d}"


def _estimate_input_tokens(body: Any) -> int:
    return max(1, len(json.dumps(body)) // 4)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "scripted-messages-api/1"
    # Idle keep-alive connections must not hold a handler thread forever.
    timeout = 30
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the recorded requests are the log

    # -- plumbing

    def _read_body(self) -> Any:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return raw.decode("utf-8", "replace")

    def _record(self, body: Any, task: str | None, limited: bool = False) -> RecordedRequest:
        parts = urlsplit(self.path)
        headers = {
            k.lower(): v for k, v in self.headers.items() if k.lower() not in _SECRET_HEADERS
        }
        rec = RecordedRequest(
            self.command, parts.path, parts.query, headers, body, task, limited=limited
        )
        self.server.api._append(rec)
        return rec

    def _send_json(
        self, code: int, payload: Any, extra_headers: Mapping[str, str] | None = None
    ) -> None:
        data = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("request-id", _new_id("req"))
        for k, v in (extra_headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    # -- verbs

    def do_HEAD(self) -> None:
        self._record(None, None)
        self._send_json(200, {})

    def do_GET(self) -> None:
        self._record(None, None)
        self._send_json(200, {})

    def do_POST(self) -> None:
        body = self._read_body()
        path = urlsplit(self.path).path
        if path == "/v1/messages" and isinstance(body, dict):
            self._messages(body)
        elif path == "/v1/messages/count_tokens":
            self._record(body, None)
            self._send_json(200, {"input_tokens": _estimate_input_tokens(body)})
        else:
            self._record(body, None)
            self._send_json(200, {})

    def _messages(self, body: dict[str, Any]) -> None:
        api = self.server.api
        task = task_for_request(body, api.script_keys())
        limit = api.limit_headers()
        self._record(body, task, limited=limit is not None)
        if limit is not None:
            api.wait_for_together(task)
            self._send_json(429, Status(429, USAGE_LIMIT_MESSAGE).body(), limit)
            return
        while True:
            step = api._next_step(task)
            if isinstance(step, Sleep):
                if api.stopping.wait(step.seconds):
                    self.close_connection = True
                    return
                continue
            if isinstance(step, Hang):
                api.stopping.wait()
                self.close_connection = True
                return
            if isinstance(step, Status):
                headers = {}
                if step.retry_after is not None:
                    headers["retry-after"] = f"{step.retry_after:g}"
                self._send_json(step.code, step.body(), headers)
                return
            self._answer(body, step)
            return

    # -- answers

    def _answer(self, body: dict[str, Any], step: ToolUse | Text) -> None:
        model = str(body.get("model") or "claude-scripted")
        blocks: list[dict[str, Any]] = []
        if isinstance(step, Text):
            blocks.append({"type": "text", "text": step.text})
            stop_reason = "end_turn"
        else:
            if step.preamble:
                blocks.append({"type": "text", "text": step.preamble})
            blocks.append(
                {
                    "type": "tool_use",
                    "id": _new_id("toolu"),
                    "name": step.name,
                    "input": dict(step.input),
                }
            )
            stop_reason = "tool_use"
        input_tokens = _estimate_input_tokens(body.get("messages"))
        output_tokens = max(1, len(json.dumps(blocks)) // 4)
        message: dict[str, Any] = {
            "id": _new_id("msg"),
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": blocks,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {
                "input_tokens": input_tokens,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "output_tokens": output_tokens,
            },
        }
        headers = self.server.api.usage_headers()
        if body.get("stream"):
            self._stream(message, headers)
        else:
            self._send_json(200, message, headers)

    def _stream(self, message: dict[str, Any], headers: Mapping[str, str]) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("request-id", _new_id("req"))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()

        def event(name: str, data: Mapping[str, Any]) -> None:
            payload = f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
            self.wfile.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
            self.wfile.flush()

        usage = message["usage"]
        start = dict(message, content=[], stop_reason=None, stop_sequence=None)
        start["usage"] = dict(usage, output_tokens=1)
        event("message_start", {"type": "message_start", "message": start})
        event("ping", {"type": "ping"})
        for index, block in enumerate(message["content"]):
            if block["type"] == "text":
                event(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {"type": "text", "text": ""},
                    },
                )
                for piece in _chunks(block["text"], 24):
                    event(
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": index,
                            "delta": {"type": "text_delta", "text": piece},
                        },
                    )
            else:
                event(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {
                            "type": "tool_use",
                            "id": block["id"],
                            "name": block["name"],
                            "input": {},
                        },
                    },
                )
                for piece in _chunks(json.dumps(block["input"]), 24):
                    event(
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": index,
                            "delta": {"type": "input_json_delta", "partial_json": piece},
                        },
                    )
            event("content_block_stop", {"type": "content_block_stop", "index": index})
        event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                "usage": {"output_tokens": usage["output_tokens"]},
            },
        )
        event("message_stop", {"type": "message_stop"})
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def _chunks(s: str, size: int) -> list[str]:
    return [s[i : i + size] for i in range(0, len(s), size)] or [""]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False

    def __init__(self, api: MessagesAPI) -> None:
        self.api = api
        super().__init__(("127.0.0.1", 0), _Handler)


class MessagesAPI:
    """The scripted server; a context manager (``start``/``stop`` also work)."""

    def __init__(self, scripts: Mapping[str, Sequence[Step]] | None = None) -> None:
        self._lock = threading.Lock()
        self._scripts: dict[str, list[Step]] = {k: list(v) for k, v in (scripts or {}).items()}
        self._cursors: dict[str | None, int] = {}
        self._requests: list[RecordedRequest] = []
        self._limit: tuple[float, str] | None = None
        self._usage: tuple[float, float, str] | None = None
        self._together: frozenset[str] = frozenset()
        self.stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- scripting

    def script(self, task_id: str, steps: Sequence[Step]) -> None:
        """Set (replace) the script of a task; ``"*"`` is the unmatched requests' script."""
        with self._lock:
            self._scripts[task_id] = list(steps)
            self._cursors.pop(task_id, None)

    def script_keys(self) -> list[str]:
        with self._lock:
            return list(self._scripts)

    def _next_step(self, task: str | None) -> Step:
        key = task if task is not None else DEFAULT_SCRIPT_KEY
        with self._lock:
            steps = self._scripts.get(key, [])
            cursor = self._cursors.get(key, 0)
            self._cursors[key] = cursor + 1
        return steps[cursor] if cursor < len(steps) else Text(DONE_TEXT)

    # -- the account's usage limit

    def usage_limit(
        self, until: float, claim: str = "five_hour", together: Sequence[str] = ()
    ) -> None:
        """Refuse every messages request until ``until`` (epoch seconds) as a subscription
        account's usage limit: HTTP 429 with the ``anthropic-ratelimit-unified-*`` headers.

        The tasks ``together`` all meet it: the refusal of one of them waits (at most
        :data:`TOGETHER_WAIT` s) until each of them has asked."""
        with self._lock:
            self._limit = (until, claim)
            self._together = frozenset(together)

    def wait_for_together(self, task: str | None) -> None:
        """Hold a limited answer to ``task`` until every task limited with it has asked."""
        with self._lock:
            together = self._together
        if task not in together:
            return
        deadline = time.monotonic() + TOGETHER_WAIT
        while time.monotonic() < deadline and not self.stopping.is_set():
            if together <= {r.task for r in self.requests if r.is_messages}:
                return
            self.stopping.wait(0.05)

    def usage(self, utilization: float, reset: float, claim: str = "five_hour") -> None:
        """Report, on every answer until ``reset`` (epoch seconds), that the window
        ``claim`` is ``utilization`` used (0.95: 95 %): the unified headers of a subscription
        account close to its limit (``allowed_warning`` from 0.9, else ``allowed``)."""
        with self._lock:
            self._usage = (utilization, reset, claim)

    def usage_headers(self) -> dict[str, str]:
        """The unified rate-limit headers of a successful answer (none unless :meth:`usage`
        was called and its reset has not come)."""
        with self._lock:
            usage = self._usage
        if usage is None or time.time() >= usage[1]:
            return {}
        used, reset, claim = usage
        short = {"five_hour": "5h", "seven_day": "7d"}[claim]
        status = "allowed_warning" if used >= 0.9 else "allowed"
        headers = {
            "anthropic-ratelimit-unified-status": status,
            "anthropic-ratelimit-unified-reset": str(int(reset)),
            "anthropic-ratelimit-unified-representative-claim": claim,
            f"anthropic-ratelimit-unified-{short}-status": status,
            f"anthropic-ratelimit-unified-{short}-utilization": f"{used:g}",
            f"anthropic-ratelimit-unified-{short}-reset": str(int(reset)),
        }
        if used >= 0.9:
            headers[f"anthropic-ratelimit-unified-{short}-surpassed-threshold"] = "0.9"
        return headers

    def limit_headers(self) -> dict[str, str] | None:
        """The unified rate-limit headers while the usage limit holds, else None."""
        with self._lock:
            limit = self._limit
        if limit is None or time.time() >= limit[0]:
            return None
        until, claim = limit
        return {
            "anthropic-ratelimit-unified-status": "rejected",
            "anthropic-ratelimit-unified-reset": str(int(until)),
            "anthropic-ratelimit-unified-representative-claim": claim,
        }

    # -- recording

    def _append(self, rec: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(rec)

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of every request received so far, in order."""
        with self._lock:
            return list(self._requests)

    def requests_for(self, task: str | None) -> list[RecordedRequest]:
        """The ``/v1/messages`` requests matched to ``task`` (None: unmatched ones)."""
        return [r for r in self.requests if r.is_messages and r.task == task]

    # -- lifecycle

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("server not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MessagesAPI:
        if self._server is not None:
            raise RuntimeError("server already started")
        self.stopping.clear()
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"messages-api-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self.stopping.set()  # releases hang() and sleep() steps
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> MessagesAPI:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
