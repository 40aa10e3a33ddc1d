"""Agent presets (--roadmap-agent), the Codex CLI preset, the pytest_roadmap_agent_command hook."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from pytest_roadmap.agents.codex import CodexEvents
from pytest_roadmap.agents.presets import PRESETS
from pytest_roadmap.agents.run import AgentCommand
from pytest_roadmap.agents.run import run_agent
from pytest_roadmap.agents.stream import AgentResult
from pytest_roadmap.settings import AGENT_PRESETS

from .conftest import Project
from .conftest import path_without

TWO_TASKS = "## Phase 1: Solo\n\n### Group A: Only\n- **A1: First** - one\n- **A2: Second** - two\n"

#: ``codex exec --json`` lines as codex-cli 0.169.0 printed them against a local API server
CODEX_OK: list[dict[str, Any]] = [
    {"type": "thread.started", "thread_id": "01a2148e-6c08-7773-aa7b-ed6dc4f44558"},
    {"type": "turn.started"},
    {
        "type": "item.completed",
        "item": {
            "id": "item_0",
            "type": "error",
            "message": "Falling back from WebSockets to HTTPS transport. unexpected status 404",
        },
    },
    {
        "type": "item.started",
        "item": {
            "id": "item_1",
            "type": "command_execution",
            "command": "/bin/bash -lc 'echo hi > hello.txt'",
            "aggregated_output": "",
            "exit_code": None,
            "status": "in_progress",
        },
    },
    {
        "type": "item.completed",
        "item": {
            "id": "item_1",
            "type": "command_execution",
            "command": "/bin/bash -lc 'echo hi > hello.txt'",
            "aggregated_output": "",
            "exit_code": 0,
            "status": "completed",
        },
    },
    {
        "type": "item.completed",
        "item": {"id": "item_2", "type": "agent_message", "text": "All done: wrote hello.txt"},
    },
    {
        "type": "turn.completed",
        "usage": {
            "input_tokens": 20,
            "cached_input_tokens": 0,
            "cache_write_input_tokens": 0,
            "output_tokens": 10,
            "reasoning_output_tokens": 0,
        },
    },
]
UNAUTHORIZED = (
    "unexpected status 401 Unauthorized: Incorrect API key provided: sk-test. You can find "
    "your API key at https://platform.openai.com/account/api-keys., "
    "url: http://127.0.0.1:8089/v1/responses"
)
CODEX_401: list[dict[str, Any]] = [
    {"type": "thread.started", "thread_id": "01a2148d-b8ce-7181-8f3b-6ff3ac5574da"},
    {"type": "turn.started"},
    {"type": "error", "message": f"Reconnecting... 5/5 ({UNAUTHORIZED})"},
    {"type": "error", "message": UNAUTHORIZED},
    {"type": "turn.failed", "error": {"message": UNAUTHORIZED}},
]

#: codex-cli 0.169.0 on an HTTP 400 (model_not_found): a failure of this task only
MODEL_MISSING = "The requested model 'gpt-x' does not exist."

#: a stand-in for ``codex``: checks its argv like codex exec would, records it, prints events
FAKE_CODEX = """\
import json, os, sys
argv = sys.argv[1:]
task = os.environ.get("ROADMAP_TASK_ID", "?")
mode = json.loads(os.environ.get("FAKE_CODEX_PLAN") or "{}").get(task, "ok")
if argv[:2] != ["exec", "--json"] or argv[-1] != "-":
    sys.stderr.write("error: unexpected argument found\\n")
    sys.exit(2)
prompt = sys.stdin.read()
with open(os.environ["FAKE_CODEX_RECORD"], "a+") as record:
    record.seek(0)
    earlier = [json.loads(line) for line in record if json.loads(line)["task"] == task]
    record.write(json.dumps({"task": task, "argv": argv, "prompt": prompt, "cwd": os.getcwd()}))
    record.write("\\n")
if mode == "flaky":  # fails on the task's first run only
    mode = "fail" if not earlier else "ok"
def emit(event):
    print(json.dumps(event), flush=True)
emit({"type": "thread.started", "thread_id": "thread-" + task})
emit({"type": "turn.started"})
sys.stderr.write("2026-11-25T21:12:41Z ERROR codex_api: failed to connect to WebSocket\\n")
if mode == "ok":
    item = {"id": "item_1", "type": "command_execution", "command": "touch", "status": "running"}
    emit({"type": "item.started", "item": item})
    with open(task + ".codex", "w") as out:
        out.write(prompt)
    emit({"type": "item.completed", "item": dict(item, exit_code=0, status="completed")})
    emit({"type": "item.completed", "item": {"id": "item_2", "type": "agent_message",
                                              "text": "Done with " + task}})
    emit({"type": "turn.completed", "usage": {"input_tokens": 20, "output_tokens": 10}})
    sys.exit(0)
message = os.environ.get("FAKE_CODEX_ERROR", "The requested model 'gpt-x' does not exist.")
emit({"type": "error", "message": "Reconnecting... 5/5 (" + message + ")"})
emit({"type": "error", "message": message})
emit({"type": "turn.failed", "error": {"message": message}})
sys.exit(1)
"""

#: a conftest.py whose hook starts a third-party agent: a Python one-liner writing a file
HOOK_CONFTEST = """\
import json, os, sys
from pytest_roadmap.agents.run import AgentCommand
from pytest_roadmap.agents.run import task_env

SCRIPT = (
    "import json, os, sys; "
    "open(os.environ['ROADMAP_TASK_ID'] + '.hooked', 'w').write(sys.stdin.read())"
)

def pytest_roadmap_agent_command(config, step, task, prompt, log, cwd, resume):
    if task.id in os.environ.get("HOOK_SKIP", "").split():
        return None
    with open(log.with_suffix(".hook.json"), "w") as facts:
        json.dump({"task": task.id, "group": step.group.id, "cwd": str(cwd),
                   "resume": resume, "log": log.name}, facts)
    return AgentCommand((sys.executable, "-c", SCRIPT), cwd, task_env(step, log, resume),
                        prompt.encode(), False)
"""


@pytest.fixture
def fake_codex(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake ``codex`` in a folder of its own at the front of PATH; returns its record file."""
    folder = tmp_path_factory.mktemp("codex-bin")
    codex = folder / "codex"
    codex.write_text(f"#!{sys.executable}\n{FAKE_CODEX}", encoding="utf-8")
    codex.chmod(0o755)
    record = folder / "record.jsonl"
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_CODEX_RECORD", str(record))
    monkeypatch.delenv("FAKE_CODEX_PLAN", raising=False)
    return record


def codex_runs(record: Path) -> list[dict[str, Any]]:
    if not record.exists():
        return []
    return [json.loads(line) for line in record.read_text().splitlines() if line]


# -- the hook ----------------------------------------------------------------------------------


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_hook_in_conftest_runs_a_third_party_agent(
    project: Project,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
    xdist: list[str],
) -> None:
    project.pytester.makeconftest(HOOK_CONFTEST)
    project.roadmap(TWO_TASKS)
    # no claude anywhere: the hook replaces it, so the preflight does not look for it
    monkeypatch.setenv("PATH", path_without(tmp_path_factory))
    result = project.pytester.runpytest_subprocess(
        "--roadmap", "ROADMAP.md", "--roadmap-no-push", "-p", "no:randomly", *xdist, timeout=120
    )
    result.assert_outcomes(passed=4)
    for task in ("A1", "A2"):
        written = (project.path / f"{task}.hooked").read_text(encoding="utf-8")
        assert written.startswith(f"Implement Phase 1, Group A, Task {task}: ")
    logs = project.path / "logs" / "orchestrator"
    facts = [json.loads(path.read_text()) for path in sorted(logs.glob("*.hook.json"))]
    assert [(f["task"], f["group"], f["resume"]) for f in facts] == [
        ("A1", "A", None),
        ("A2", "A", None),
    ]
    assert all(Path(f["cwd"]) == project.path for f in facts)


def test_hook_returning_none_leaves_the_task_to_the_preset(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.pytester.makeconftest(HOOK_CONFTEST)
    monkeypatch.setenv("HOOK_SKIP", "A2")
    project.roadmap(TWO_TASKS)
    result = project.run("--roadmap-no-commit", agent=project.agent("--write", "a2.txt"))
    result.assert_outcomes(passed=3, skipped=1)
    assert (project.path / "A1.hooked").exists() and not (project.path / "A2.hooked").exists()
    assert [r["task"] for r in project.records("start")] == ["A2"]
    assert (project.path / "a2.txt").exists()


def test_hook_returning_something_else_fails_the_task(project: Project) -> None:
    project.pytester.makeconftest("def pytest_roadmap_agent_command(task):\n    return 'run me'\n")
    project.roadmap(TWO_TASKS)
    result = project.run("--roadmap-no-commit")
    result.assert_outcomes(failed=2, skipped=2)
    result.stdout.fnmatch_lines(
        ["E * TypeError: pytest_roadmap_agent_command returned 'run me', not an AgentCommand"]
    )


# -- choosing a preset ---------------------------------------------------------------------------


def test_every_preset_has_a_builder() -> None:
    assert set(PRESETS) == set(AGENT_PRESETS) == {"claude", "codex", "command"}


def test_command_preset_needs_a_command(project: Project) -> None:
    project.roadmap(TWO_TASKS)
    result = project.pytester.runpytest_subprocess(
        "--roadmap", "ROADMAP.md", "--roadmap-agent", "command", timeout=60
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert result.stderr.lines[0] == (
        "ERROR: agent 'command' from --roadmap-agent needs roadmap_agent_command "
        "(or --roadmap-agent-command CMD)"
    )
    assert not (project.path / "status").exists()


def test_unknown_preset_lists_the_choices(project: Project) -> None:
    project.roadmap(TWO_TASKS)
    result = project.pytester.runpytest_subprocess(
        "--roadmap", "ROADMAP.md", "--roadmap-agent", "aider", timeout=60
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*argument --roadmap-agent: invalid choice: 'aider' (choose from *claude*codex*command*)"]
    )


def test_unknown_preset_in_the_ini_file(project: Project) -> None:
    project.pytester.makeini("[pytest]\nroadmap_agent = aider\n")
    project.roadmap(TWO_TASKS)
    result = project.pytester.runpytest_subprocess("--roadmap", "ROADMAP.md", timeout=60)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: invalid agent 'aider' from roadmap_agent in the ini file: "
            "use one of 'claude', 'codex', 'command'"
        ]
    )


def test_command_line_agent_command_beats_the_ini_preset(project: Project) -> None:
    project.pytester.makeini("[pytest]\nroadmap_agent = codex\n")
    project.roadmap(TWO_TASKS)
    result = project.run("--roadmap-no-commit")  # --roadmap-agent-command: the fake agent
    result.assert_outcomes(passed=3, skipped=1)
    assert len(project.records("start")) == 2


# -- the codex preset ----------------------------------------------------------------------------


def test_codex_task_passes_and_fails_with_its_reason(
    project: Project, fake_codex: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.roadmap(TWO_TASKS)
    monkeypatch.setenv("FAKE_CODEX_PLAN", json.dumps({"A2": "fail"}))
    result = project.run("--roadmap-agent", "codex", "--roadmap-no-commit", "-rs")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=1, failed=1, skipped=2)
    result.stdout.fnmatch_lines(["roadmap: ROADMAP.md: *; agent: codex (*/codex); *"])
    result.stdout.fnmatch_lines_random(
        [
            "Codex turn failed: The requested model 'gpt-x' does not exist.",
            "log: logs/orchestrator/phase1_groupA_A2_*.log",
            "SKIPPED [[]1] ROADMAP.md:3: tasks failed: A2",
        ]
    )
    runs = {run["task"]: run for run in codex_runs(fake_codex)}
    assert runs["A1"]["argv"] == [
        "exec",
        "--json",
        "--dangerously-bypass-approvals-and-sandbox",
        "-",
    ]
    assert runs["A1"]["prompt"].startswith("Implement Phase 1, Group A, Task A1: First\n")
    assert Path(runs["A1"]["cwd"]) == project.path
    assert (project.path / "A1.codex").read_text() == runs["A1"]["prompt"]
    assert project.records() == []  # the fake agent of --roadmap-agent-command never ran


def test_codex_resumes_its_thread(
    project: Project, fake_codex: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.roadmap(TWO_TASKS)
    monkeypatch.setenv("FAKE_CODEX_PLAN", json.dumps({"A2": "fail"}))
    project.run("--roadmap-agent", "codex", "--roadmap-no-commit").assert_outcomes(
        passed=1, failed=1, skipped=2
    )
    monkeypatch.setenv("FAKE_CODEX_PLAN", "{}")
    result = project.run(
        "--roadmap-agent", "codex", "--roadmap-no-commit", "--roadmap-resume-sessions"
    )
    result.assert_outcomes(passed=2, skipped=2)
    last = codex_runs(fake_codex)[-1]
    assert last["task"] == "A2"
    assert last["argv"][-3:] == ["resume", "thread-A2", "-"]
    assert "Codex turn failed" in last["prompt"]


def test_codex_error_body_is_unwrapped(
    project: Project, fake_codex: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.roadmap(TWO_TASKS)
    body = {"error": {"message": "The model `gpt-x` does not exist", "type": "invalid_request"}}
    monkeypatch.setenv("FAKE_CODEX_ERROR", json.dumps(body))
    monkeypatch.setenv("FAKE_CODEX_PLAN", json.dumps({"A1": "fail", "A2": "fail"}))
    result = project.run("--roadmap-agent", "codex", "--roadmap-no-commit")
    result.assert_outcomes(failed=2, skipped=2)
    result.stdout.fnmatch_lines(["Codex turn failed: The model `gpt-x` does not exist"])


def test_codex_bin_and_args_from_the_ini_file(
    project: Project,
    fake_codex: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    codex = fake_codex.parent / "codex"
    monkeypatch.setenv("PATH", path_without(tmp_path_factory))  # codex is not on PATH
    project.pytester.makeini(
        f"[pytest]\nroadmap_agent = codex\nroadmap_agent_bin = {codex}\n"
        "roadmap_agent_args = -s workspace-write -m 'o4 mini'\n"
    )
    project.roadmap(TWO_TASKS)
    result = project.pytester.runpytest_subprocess(
        "--roadmap", "ROADMAP.md", "--roadmap-no-commit", "-p", "no:randomly", timeout=120
    )
    result.assert_outcomes(passed=3, skipped=1)
    argv = codex_runs(fake_codex)[0]["argv"]
    assert argv == ["exec", "--json", "-s", "workspace-write", "-m", "o4 mini", "-"]


def test_codex_not_found(
    project: Project, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    project.roadmap(TWO_TASKS)
    monkeypatch.setenv("PATH", path_without(tmp_path_factory))
    result = project.pytester.runpytest_subprocess(
        "--roadmap", "ROADMAP.md", "--roadmap-agent", "codex", timeout=60
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert result.stderr.lines[0] == (
        "ERROR: Codex CLI not found! Install it (npm install -g @openai/codex) "
        "or set roadmap_agent_bin"
    )
    assert not (project.path / "status").exists()


def test_dry_run_shows_the_codex_command_line(
    project: Project, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    project.roadmap(TWO_TASKS)
    monkeypatch.setenv("PATH", path_without(tmp_path_factory))  # not installed: fine for a plan
    result = project.pytester.runpytest_subprocess(
        "--roadmap", "ROADMAP.md", "--roadmap-agent", "codex", "--roadmap-dry-run", timeout=60
    )
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "*A1 would run: codex exec --json --dangerously-bypass-approvals-and-sandbox - "
            f"in {project.path}: Implement Phase 1, Group A, Task A1: First"
        ]
    )


# -- codex events --------------------------------------------------------------------------------


def translate(events: list[dict[str, Any]]) -> list[Mapping[str, Any]]:
    codex = CodexEvents()
    return [out for out in map(codex, events) if out is not None]


def test_codex_events_success() -> None:
    out = translate(CODEX_OK)
    assert out[0] == {
        "type": "system",
        "subtype": "init",
        "session_id": "01a2148e-6c08-7773-aa7b-ed6dc4f44558",
    }
    assert [event["type"] for event in out] == ["system", "assistant", "assistant", "result"]
    assert out[1]["message"]["content"][0] == {"type": "tool_use", "name": "command_execution"}
    assert out[-1] == {
        "type": "result",
        "subtype": "success",
        "is_error": False,
        "result": "All done: wrote hello.txt",
        "session_id": "01a2148e-6c08-7773-aa7b-ed6dc4f44558",
    }


def test_codex_events_failure() -> None:
    out = translate(CODEX_401)
    assert out[-1] == {
        "type": "result",
        "is_error": True,
        "result": f"Codex is not logged in: {UNAUTHORIZED}",
        "session_id": "01a2148d-b8ce-7181-8f3b-6ff3ac5574da",
        "api_error_status": 401,
        "failure_kind": "systemic",
    }


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        ({"message": '{"error": {"message": "server exploded"}}'}, "server exploded"),
        ({"message": "[1, 2]"}, "[1, 2]"),
        ({"message": ""}, "unknown error"),
        ("plain text", "plain text"),
        (None, "unknown error"),
    ],
)
def test_codex_error_messages(error: object, reason: str) -> None:
    out = translate([{"type": "turn.failed", "error": error}])
    assert out == [{"type": "result", "is_error": True, "result": f"Codex turn failed: {reason}"}]


def test_codex_events_ignore_junk() -> None:
    junk: list[dict[str, Any]] = [
        {"type": "thread.started"},
        {"type": "item.completed", "item": "nope"},
        {"type": "item.completed", "item": {"type": "agent_message", "text": 3}},
        {"type": "something.new"},
    ]
    out = translate(junk)
    assert out == [{"type": "assistant", "message": {"content": [{"type": "text", "text": ""}]}}]


def _codex_command(tmp_path: Path, events: list[dict[str, Any]], code: int) -> AgentCommand:
    script = tmp_path / "codex.py"
    lines = "".join(json.dumps(event) + "\n" for event in events)
    script.write_text(f"import sys\nsys.stdout.write({lines!r})\nsys.exit({code})\n")
    return AgentCommand(
        (sys.executable, str(script)), tmp_path, dict(os.environ), b"", True, CodexEvents()
    )


def test_run_agent_reads_codex_success(tmp_path: Path) -> None:
    result = run_agent(_codex_command(tmp_path, CODEX_OK, 0), tmp_path / "A1.log", 30)
    assert result.failure("A1", 30) is None
    assert result.session_id == "01a2148e-6c08-7773-aa7b-ed6dc4f44558"
    assert result.result_text == "All done: wrote hello.txt"
    assert result.last_activity == "text" and result.turns == 2


def test_run_agent_reads_codex_failure(tmp_path: Path) -> None:
    result = run_agent(_codex_command(tmp_path, CODEX_401, 1), tmp_path / "A1.log", 30)
    failure = result.failure("A1", 30)
    assert failure is not None and failure.systemic and not result.transient
    assert failure.reason.startswith("Codex is not logged in: unexpected status 401 Unauthorized: ")
    assert len(failure.reason) <= 300


def test_run_agent_survives_a_broken_translator(tmp_path: Path) -> None:
    def broken(event: Mapping[str, Any]) -> Mapping[str, Any] | None:
        raise KeyError(event["type"])

    cmd = _codex_command(tmp_path, CODEX_OK * 200, 0)
    cmd = AgentCommand(cmd.argv, cmd.cwd, cmd.env, cmd.stdin, True, broken)
    log = tmp_path / "A1.log"
    result = run_agent(cmd, log, 30)
    assert result.exit_code == 0 and result.result_event is None
    assert "thread.started" in log.read_text()
    assert "KeyError('thread.started')" in log.read_text()


# -- codex failures: systemic or transient ---------------------------------------------------

#: codex-cli 0.169.0's messages, as it printed them against a stand-in API server
UNAVAILABLE = (
    "unexpected status 503 Service Unavailable: The engine is currently overloaded, please "
    "try again later, url: http://127.0.0.1:18105/v1/responses"
)
RECONNECT_503 = f"Reconnecting... 1/5 ({UNAVAILABLE})"  # one of codex's own retries
HIGH_DEMAND = "We\u2019re currently experiencing high demand, which may cause temporary errors."
USAGE_LIMIT = (
    "You\u2019ve hit your usage limit. Upgrade to Pro (https://chatgpt.com/explore/pro), visit "
    "https://chatgpt.com/settings/usage to purchase more credits or try again later."
)
NOT_LOGGED_IN = "Codex is not logged in"
TURN_FAILED = "Codex turn failed"


def test_codex_usage_limit_is_a_usage_limit_not_a_failure() -> None:
    """The plan's usage limit: neither systemic nor transient; the run waits for its reset."""
    out = translate([{"type": "turn.failed", "error": {"message": USAGE_LIMIT}}])
    assert out[0]["api_error"] == "usage_limit_reached" and "failure_kind" not in out[0]
    result = AgentResult(1, False, False, 1.0, Path("A1.log"), "", result_event=out[0])
    assert result.usage_limit is not None
    assert result.usage_limit.resets_at is None  # "try again later"
    failure = result.failure("A1", 30)
    assert failure is not None and not failure.systemic and not result.transient


@pytest.mark.parametrize(
    ("message", "kind", "status", "prefix"),
    [
        # measured: codex-cli 0.169.0 against a stand-in API server
        (UNAUTHORIZED, "systemic", 401, NOT_LOGGED_IN),
        ("Missing environment variable: `OPENAI_API_KEY`.", "systemic", None, NOT_LOGGED_IN),
        ("Quota exceeded. Check your plan and billing details.", "systemic", None, TURN_FAILED),
        ("exceeded retry limit, last status: 429 Too Many Requests", "transient", 429, TURN_FAILED),
        (HIGH_DEMAND, "transient", 500, TURN_FAILED),
        (UNAVAILABLE, "transient", 503, TURN_FAILED),
        (
            "stream disconnected before completion: stream closed before response.completed",
            "transient",
            None,
            TURN_FAILED,
        ),
        (MODEL_MISSING, None, None, TURN_FAILED),
        # strings of the 0.169.0 binary (RefreshTokenFailed) and of codex-rs/core/src/error.rs
        (
            "Your access token could not be refreshed because your refresh token has expired. "
            "Please log out and sign in again.",
            "systemic",
            None,
            NOT_LOGGED_IN,
        ),
        (
            "Error while reading the server response: HTTP status client error (429 Too Many "
            "Requests) for url (http://example.com/), request id: req-123",
            "transient",
            429,
            TURN_FAILED,
        ),
    ],
)
def test_codex_failures_are_classified(
    message: str, kind: str | None, status: int | None, prefix: str
) -> None:
    out = translate([{"type": "turn.failed", "error": {"message": message}}])
    assert out[0]["result"] == f"{prefix}: {message}"
    assert out[0].get("failure_kind") == kind and out[0].get("api_error_status") == status
    result = AgentResult(1, False, False, 1.0, Path("A1.log"), "", result_event=out[0])
    failure = result.failure("A1", 30)
    assert failure is not None and failure.reason == f"{prefix}: {message}"
    assert failure.systemic == (kind == "systemic")
    assert result.transient == (kind == "transient")


@pytest.mark.parametrize(
    ("message", "retry"),
    [
        (RECONNECT_503, {"error_status": 503, "attempt": 1}),
        (f"Reconnecting... 2/5 ({HIGH_DEMAND})", {"error_status": 500, "attempt": 2}),
        (f"Reconnecting... 5/5 ({UNAUTHORIZED})", None),  # not worth a retry
        ("Reconnecting... waiting for network (Connection failed: error sending request)", None),
        (MODEL_MISSING, None),
    ],
)
def test_codex_retries_are_api_retry_events(message: str, retry: dict[str, int] | None) -> None:
    out = translate([{"type": "error", "message": message}])
    assert out == ([{"type": "system", "subtype": "api_retry", **retry}] if retry else [])


def test_codex_dying_while_the_api_fails_is_transient(tmp_path: Path) -> None:
    events = [CODEX_401[0], {"type": "turn.started"}, {"type": "error", "message": RECONNECT_503}]
    result = run_agent(_codex_command(tmp_path, events, 1), tmp_path / "A1.log", 30)
    assert result.api_errors == (503,) and result.transient
    failure = result.failure("A1", 30)
    assert failure is not None and not failure.systemic


def test_codex_rate_limit_is_retried_in_its_thread(
    project: Project, fake_codex: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.roadmap(TWO_TASKS)
    xml = project.path.parent / f"{project.path.name}-junit.xml"
    monkeypatch.setenv("FAKE_CODEX_PLAN", json.dumps({"A1": "flaky"}))
    monkeypatch.setenv(
        "FAKE_CODEX_ERROR", "exceeded retry limit, last status: 429 Too Many Requests"
    )
    result = project.run(
        "--roadmap-agent",
        "codex",
        "--roadmap-no-commit",
        "-o",
        "roadmap_retry_backoff=0",
        f"--junitxml={xml}",
    )
    result.assert_outcomes(passed=3, skipped=1)
    runs = [run for run in codex_runs(fake_codex) if run["task"] == "A1"]
    assert len(runs) == 2
    assert runs[1]["argv"][-3:] == ["resume", "thread-A1", "-"]
    assert runs[1]["prompt"].startswith("Continue Phase 1, Group A, Task A1: First")
    report = xml.read_text()
    assert '<property name="retries" value="1"' in report
    assert (
        '<property name="retry_1_reason" value="Codex turn failed: exceeded retry limit, '
        'last status: 429 Too Many Requests"' in report
    )


def test_codex_not_logged_in_stops_the_run(
    project: Project, fake_codex: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.roadmap(TWO_TASKS)
    monkeypatch.setenv("FAKE_CODEX_PLAN", json.dumps({"A1": "fail"}))
    monkeypatch.setenv("FAKE_CODEX_ERROR", "Missing environment variable: `OPENAI_API_KEY`.")
    result = project.run("--roadmap-agent", "codex", "--roadmap-no-commit")
    result.assert_outcomes(failed=1, skipped=3)
    result.stdout.fnmatch_lines(
        [
            "*stopping: systemic agent failure: Codex is not logged in: Missing environment "
            "variable: `OPENAI_API_KEY`.; no further task will start"
        ]
    )
    assert [run["task"] for run in codex_runs(fake_codex)] == ["A1"]  # not retried; A2 not run
