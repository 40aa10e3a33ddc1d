"""The real Claude Code CLI, headless, against the scripted Messages API server.

The server-only tests at the top need no CLI; the rest use ``claude_bin`` and
so skip (or fail under CI=true) when the pinned CLI is not installed.
Observed behaviour of 2.1.328 that these tests pin down is noted per test.
"""

from __future__ import annotations

import http.client
import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from .conftest import BAIT_COMMIT_SUBJECT
from .conftest import RunClaude
from .messages_api import MessagesAPI
from .messages_api import Step
from .messages_api import bash
from .messages_api import hang
from .messages_api import prompt_text
from .messages_api import sleep
from .messages_api import status
from .messages_api import task_for_request
from .messages_api import text

PROMPT_A1 = (
    "Implement Phase 1, Group A, Task A1: Create src/a1.js\n\n"
    "Create the file src/a1.js exporting the number 1.\n"
)

REMINDER = (
    "<system-reminder>\nAs you answer the user's questions, you can use the following "
    "context:\n# gitStatus\nRecent commits:\nabc1234 Task A2: earlier work\n"
    "Task id: A2\n</system-reminder>"
)


# ------------------------------------------------------------ task matching


def _body(*messages: dict[str, Any]) -> dict[str, Any]:
    return {"model": "m", "messages": list(messages)}


def _user(*blocks: Any) -> dict[str, Any]:
    return {"role": "user", "content": list(blocks)}


def _text(s: str) -> dict[str, str]:
    return {"type": "text", "text": s}


def test_matcher_ignores_system_reminder() -> None:
    body = _body(_user(_text(REMINDER), _text(PROMPT_A1)))
    assert task_for_request(body, ["A1", "A2"]) == "A1"
    assert task_for_request(body, ["A2"]) is None


def test_matcher_ignores_reminder_inside_prompt_block() -> None:
    body = _body(_user(_text(REMINDER + "\n" + PROMPT_A1)))
    assert task_for_request(body, ["A2", "A1"]) == "A1"
    assert prompt_text(body) == PROMPT_A1.strip()


def test_matcher_reminder_only_matches_nothing() -> None:
    body = _body({"role": "user", "content": REMINDER})
    assert prompt_text(body) is None
    assert task_for_request(body, ["A2"]) is None


def test_matcher_follows_prompt_through_tool_results() -> None:
    tool_turn = _user(
        {"type": "tool_result", "tool_use_id": "t1", "content": "Task A2: in tool output"}
    )
    body = _body(
        _user(_text(REMINDER), _text(PROMPT_A1)),
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "Bash"}]},
        tool_turn,
    )
    assert task_for_request(body, ["A1", "A2"]) == "A1"


def test_matcher_task_id_line_and_exact_ids() -> None:
    body = _body(_user(_text("Do the thing.\nTask id: B10\n")))
    assert task_for_request(body, ["B1", "B10"]) == "B10"
    body = _body(_user(_text("Implement Phase 2, Group B, Task B1: Thing")))
    assert task_for_request(body, ["B1", "B10"]) == "B1"
    body = _body(_user(_text("Implement Phase 2, Group B, Task XB1: Thing")))
    assert task_for_request(body, ["B1"]) is None


# -------------------------------------------------------- server, no CLI


def _post(
    api: MessagesAPI, path: str, payload: Any, timeout: float = 10
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=timeout)
    try:
        conn.request(
            "POST",
            path,
            body=json.dumps(payload),
            headers={"content-type": "application/json", "x-api-key": "secret"},
        )
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def _sse(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for chunk in raw.decode().split("\n\n"):
        if not chunk.strip():
            continue
        lines = dict(line.split(": ", 1) for line in chunk.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_server_streams_tool_use_then_text() -> None:
    scripts: dict[str, list[Step]] = {
        "A1": [bash("echo hi > out.txt", preamble="Writing."), sleep(0.01), text("ok")]
    }
    with MessagesAPI(scripts) as api:
        req = {"model": "claude-x", "stream": True, "messages": [_user(_text(PROMPT_A1))]}
        code, headers, raw = _post(api, "/v1/messages?beta=true", req)
        assert code == 200
        assert headers["content-type"].startswith("text/event-stream")
        events = _sse(raw)
        names = [name for name, _ in events]
        assert names[0] == "message_start"
        assert names[-2:] == ["message_delta", "message_stop"]
        assert all(data["type"] == name for name, data in events)
        assert events[0][1]["message"]["model"] == "claude-x"
        starts = [d["content_block"] for n, d in events if n == "content_block_start"]
        assert [b["type"] for b in starts] == ["text", "tool_use"]
        assert starts[1]["name"] == "Bash"
        partial = "".join(
            d["delta"]["partial_json"]
            for n, d in events
            if n == "content_block_delta" and d["delta"]["type"] == "input_json_delta"
        )
        assert json.loads(partial)["command"] == "echo hi > out.txt"
        delta = next(d for n, d in events if n == "message_delta")
        assert delta["delta"]["stop_reason"] == "tool_use"
        assert delta["usage"]["output_tokens"] > 0

        code, _, raw = _post(api, "/v1/messages", dict(req, stream=True))
        events = _sse(raw)
        deltas = [d["delta"] for n, d in events if n == "content_block_delta"]
        assert "".join(d["text"] for d in deltas) == "ok"
        assert next(d for n, d in events if n == "message_delta")["delta"]["stop_reason"] == (
            "end_turn"
        )
        # Script used up: "done".
        code, _, raw = _post(api, "/v1/messages", dict(req, stream=False))
        message = json.loads(raw)
        assert message["content"] == [{"type": "text", "text": "done"}]
        assert message["stop_reason"] == "end_turn"
        assert message["usage"]["input_tokens"] > 0

        recorded = api.requests_for("A1")
        assert len(recorded) == 3
        assert recorded[0].query == "beta=true"
        assert "x-api-key" not in recorded[0].headers
        assert recorded[0].body["messages"][0]["role"] == "user"


def test_server_errors_and_other_endpoints() -> None:
    scripts = {
        "*": [status(529), status(429, retry_after=3), status(401), status(400, "bad thing")],
    }
    with MessagesAPI(scripts) as api:
        req = {"model": "m", "messages": [_user(_text("no task here"))]}
        expected = [
            (529, "overloaded_error"),
            (429, "rate_limit_error"),
            (401, "authentication_error"),
            (400, "invalid_request_error"),
        ]
        for code, err_type in expected:
            got, headers, raw = _post(api, "/v1/messages", req)
            body = json.loads(raw)
            assert got == code
            assert body["type"] == "error"
            assert body["error"]["type"] == err_type
            if code == 429:
                assert headers["retry-after"] == "3"
        assert body["error"]["message"] == "bad thing"

        code, _, raw = _post(api, "/v1/messages/count_tokens", req)
        assert code == 200
        assert json.loads(raw)["input_tokens"] > 0
        for method in ("GET", "HEAD"):
            conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=10)
            try:
                conn.request(method, "/api/anything")
                resp = conn.getresponse()
                assert resp.status == 200
                assert resp.read() == (b"{}" if method == "GET" else b"")
            finally:
                conn.close()
        assert [r.method for r in api.requests][-2:] == ["GET", "HEAD"]
        assert all(r.task is None for r in api.requests)


def test_server_hang_is_released_by_stop() -> None:
    api = MessagesAPI({"A1": [hang()]}).start()
    try:
        req = {"model": "m", "stream": True, "messages": [_user(_text(PROMPT_A1))]}
        outcome: list[BaseException | tuple[int, dict[str, str], bytes]] = []

        def call() -> None:
            try:
                outcome.append(_post(api, "/v1/messages", req, timeout=10))
            except (OSError, http.client.HTTPException) as exc:
                outcome.append(exc)

        client = threading.Thread(target=call)
        client.start()
        client.join(timeout=0.5)
        assert client.is_alive(), "hang() answered"
        assert len(api.requests_for("A1")) == 1
    finally:
        api.stop()
    client.join(timeout=10)
    assert not client.is_alive()
    assert isinstance(outcome[0], (OSError, http.client.HTTPException))


# -------------------------------------------------------------- real CLI


def test_success_bash_tool_then_end_turn(
    run_claude: RunClaude, messages_api: MessagesAPI, git_repo: Path, claude_version: str
) -> None:
    # Observed: exit 0 in ~1 s; result subtype "success", is_error false,
    # stop_reason "end_turn", terminal_reason "completed", api_error_status null,
    # result = the final text, num_turns 2, total_cost_usd > 0 (priced from usage).
    messages_api.script(
        "A1",
        [bash("mkdir -p src && echo 'module.exports = 1;' > src/a1.js"), text("Created src/a1.js")],
    )
    messages_api.script("A2", [status(400, "A2 must not be asked")] * 10)
    run = run_claude(PROMPT_A1)
    assert run.returncode == 0, run.describe()
    assert (git_repo / "src" / "a1.js").read_text() == "module.exports = 1;\n"
    result = run.result
    assert result is not None, run.describe()
    assert result["subtype"] == "success"
    assert result["is_error"] is False
    assert result["result"] == "Created src/a1.js"
    assert isinstance(result["total_cost_usd"], (int, float))
    assert result["total_cost_usd"] > 0
    assert result["session_id"]
    assert result["num_turns"] >= 2
    assert result.get("api_error_status") is None
    assert run.events[0]["type"] == "system"
    assert run.events[0]["subtype"] == "init"
    assert run.events[0]["claude_code_version"] == claude_version
    assert run.events[0]["permissionMode"] == "bypassPermissions"
    assert run.events[-1] is result
    assert not run.leftover_pids

    # What the server saw: two turns of A1, the second carrying the tool result.
    turns = messages_api.requests_for("A1")
    assert len(turns) == 2
    assert not messages_api.requests_for("A2")
    first = turns[0]
    assert "x-api-key" not in first.headers
    assert first.headers["user-agent"].startswith("claude-cli/")
    assert first.body["stream"] is True
    reminder = json.dumps(first.body["messages"][0])
    assert BAIT_COMMIT_SUBJECT in reminder  # the bait was there, and was ignored
    assert [r["is_error"] for r in turns[1].tool_results()] == [False]


def test_http_400_on_every_attempt(run_claude: RunClaude, messages_api: MessagesAPI) -> None:
    # Observed: a 400 is not final at once: the CLI re-sends the turn 5 more
    # times within ~0.3 s, dropping beta features (thinking-token-count,
    # thinking-display-updates, advanced-tool-use, ...); a scripted single 400
    # is silently recovered. After 6 refusals: exit 1, result subtype "success",
    # is_error true, api_error_status 400, terminal_reason "api_error",
    # result "API Error: 400 <message>", total_cost_usd 0.
    messages_api.script("A1", [status(400, "scripted bad request")] * 12)
    run = run_claude(PROMPT_A1, timeout=30)
    assert run.returncode == 1, run.describe()
    result = run.result
    assert result is not None, run.describe()
    assert result["is_error"] is True
    assert result["subtype"] == "success"
    assert result["api_error_status"] == 400
    assert result["result"] == "API Error: 400 scripted bad request"
    assert len(messages_api.requests_for("A1")) >= 2


def test_http_401_without_retries_fails_fast(
    run_claude: RunClaude, messages_api: MessagesAPI, claude_env: dict[str, str]
) -> None:
    # Observed with CLAUDE_CODE_MAX_RETRIES=0: one request, exit 1 in ~0.5 s,
    # result subtype "success", is_error true, api_error_status 401,
    # api_error_type "authentication_error", terminal_reason "api_error",
    # result "Invalid API key · Fix external API key". (Default retries: a
    # system/api_retry event per attempt, max_retries 10, error_status 401.)
    messages_api.script("A1", [status(401)] * 5)
    env = dict(claude_env, CLAUDE_CODE_MAX_RETRIES="0")
    run = run_claude(PROMPT_A1, env=env, timeout=30)
    assert run.returncode == 1, run.describe()
    result = run.result
    assert result is not None, run.describe()
    assert result["is_error"] is True
    assert result["api_error_status"] == 401
    assert "Invalid API key" in result["result"]
    assert not run.of_type("system", "api_retry")
    assert len(messages_api.requests_for("A1")) == 1


def test_max_turns_in_tool_loop(run_claude: RunClaude, messages_api: MessagesAPI) -> None:
    # Observed: exit 1; result subtype "error_max_turns", is_error true,
    # terminal_reason "max_turns", stop_reason "tool_use", num_turns 2, no
    # "result" key but errors ["Reached maximum number of turns (1)"].
    messages_api.script("A1", [bash("true")] * 10)
    run = run_claude(PROMPT_A1, args=["--max-turns", "1"])
    assert run.returncode == 1, run.describe()
    result = run.result
    assert result is not None, run.describe()
    assert result["subtype"] == "error_max_turns"
    assert result["is_error"] is True
    assert "Reached maximum number of turns (1)" in json.dumps(result)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root is refused bypassPermissions")
def test_root_without_is_sandbox_is_refused(
    run_claude: RunClaude, messages_api: MessagesAPI, claude_env: dict[str, str]
) -> None:
    # Observed: exit 1 in ~0.3 s, no stdout at all (no stream-json event),
    # stderr exactly "--dangerously-skip-permissions cannot be used with
    # root/sudo privileges for security reasons\n" (also for
    # --permission-mode bypassPermissions, and with IS_SANDBOX=0).
    env = {k: v for k, v in claude_env.items() if k != "IS_SANDBOX"}
    run = run_claude(PROMPT_A1, env=env, timeout=30)
    assert run.returncode == 1, run.describe()
    assert run.events == []
    assert "cannot be used with root/sudo privileges" in run.stderr
    assert not messages_api.requests


def test_hanging_api_never_finishes_and_is_killed(
    run_claude: RunClaude, messages_api: MessagesAPI
) -> None:
    # Observed: after the system/init event the CLI waits silently (no retry
    # within 5 s; its request timeout is 600 s: x-stainless-timeout header).
    messages_api.script("A1", [hang()])
    run = run_claude(PROMPT_A1, timeout=5)
    assert run.timed_out, run.describe()
    assert run.result is None
    assert [e.get("subtype") for e in run.events] == ["init"]
    assert run.leftover_pids == []
    assert len(messages_api.requests_for("A1")) == 1
    assert messages_api.requests_for("A1")[0].headers["x-stainless-timeout"] == "600"
