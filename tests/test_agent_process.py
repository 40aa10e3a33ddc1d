"""Unit tests of pytest_roadmap.agents.run, driven by tests/fake_agent.py."""

from __future__ import annotations

import _thread
import json
import os
import resource
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from pytest_roadmap.agents.run import AgentCommand
from pytest_roadmap.agents.run import child_env
from pytest_roadmap.agents.run import interrupted_result
from pytest_roadmap.agents.run import run_agent
from pytest_roadmap.agents.stream import ROOT_REASON
from pytest_roadmap.agents.stream import AgentResult
from pytest_roadmap.process import _setpriv
from pytest_roadmap.process import launch

FAKE_AGENT = Path(__file__).with_name("fake_agent.py")
SECRET = "sk-ant-do-not-log-me"
ROOT_TEXT = "--dangerously-skip-permissions cannot be used with root/sudo privileges"


def command(
    tmp_path: Path,
    *flags: str,
    stdin: bytes | None = b"do the task\n",
    stream_json: bool = False,
    task: str = "A1",
    **env: str,
) -> AgentCommand:
    base = {k: v for k, v in os.environ.items() if not k.startswith("FAKE_AGENT_")}
    extra = {"ROADMAP_TASK_ID": task, "ANTHROPIC_API_KEY": SECRET, **env}
    return AgentCommand(
        argv=(sys.executable, str(FAKE_AGENT), *flags),
        cwd=tmp_path,
        env=child_env(base, extra),
        stdin=stdin,
        reads_stream_json=stream_json,
    )


def run(tmp_path: Path, *flags: str, timeout: float = 60, **kwargs: Any) -> AgentResult:
    grace = kwargs.pop("kill_grace", 5.0)
    on_event = kwargs.pop("on_event", None)
    cmd = command(tmp_path, *flags, **kwargs)
    log = tmp_path / "logs" / "A1.log"
    return run_agent(cmd, log, timeout, on_event=on_event, kill_grace=grace)


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def gone(pid: int) -> bool:
    """The process has exited (a zombie nobody reaped counts as exited)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_ok_run_logs_output_and_header(tmp_path: Path) -> None:
    result = run(tmp_path, "--stdout", "hello from the agent")
    assert result.ok
    assert result.exit_code == 0
    assert not result.timed_out
    assert not result.interrupted
    assert result.failure("A1", 60) is None
    assert "hello from the agent" in result.tail
    log = result.log_path.read_text()
    first = log.splitlines()[0]
    assert (
        shlex.join((sys.executable, str(FAKE_AGENT), "--stdout", "hello from the agent")) in first
    )
    assert str(tmp_path) in first
    assert "hello from the agent" in log
    assert "exit code 0" in log.splitlines()[-1]
    assert SECRET not in log
    assert "ROADMAP_TASK_ID" not in log


def test_log_is_appended(tmp_path: Path) -> None:
    run(tmp_path, "--stdout", "first run")
    result = run(tmp_path, "--stdout", "second run")
    log = result.log_path.read_text()
    assert log.index("first run") < log.index("second run")
    assert "first run" not in result.tail


def test_exit_code_failure(tmp_path: Path) -> None:
    result = run(tmp_path, "--stdout", "something broke\nbadly", "--exit", "3")
    assert not result.ok
    assert result.exit_code == 3
    failure = result.failure("A1", 60)
    assert failure is not None
    assert failure.reason == "agent exited with code 3: badly"
    assert not failure.systemic


def test_killed_by_signal(tmp_path: Path) -> None:
    result = run(tmp_path, "--crash")
    assert result.exit_code == -9
    failure = result.failure("A1", 60)
    assert failure is not None
    assert failure.reason == "agent was killed by signal SIGKILL"


def test_stream_json_is_parsed(tmp_path: Path) -> None:
    events: list[dict[str, Any]] = []
    result = run(tmp_path, "--stream-json", stream_json=True, on_event=events.append)
    assert result.ok
    assert [event["type"] for event in events] == ["system", "assistant", "result"]
    assert result.cost_usd == pytest.approx(0.0123)
    assert result.session_id == "fake-session-A1"
    assert result.num_turns == 2
    assert result.turns == 1
    assert result.last_activity == "Bash"
    assert result.result_text == "Done: A1"
    assert result.result_event is not None
    assert result.result_event["subtype"] == "success"


def test_stream_json_ignored_unless_asked(tmp_path: Path) -> None:
    result = run(tmp_path, "--stream-json", stream_json=False)
    assert result.ok
    assert result.result_event is None
    assert result.session_id is None
    assert '"type": "result"' in result.tail


def test_session_id_from_init_without_result(tmp_path: Path) -> None:
    result = run(tmp_path, "--stream-json", "--hang", stream_json=True, timeout=1, kill_grace=0.5)
    assert result.timed_out
    assert result.result_event is None
    assert result.session_id == "fake-session-A1"


def test_is_error_with_exit_zero_fails(tmp_path: Path) -> None:
    text = "API Error: 400 {'type':'error'}\nsecond line"
    result = run(tmp_path, "--stream-json", "--is-error", text, stream_json=True)
    assert result.exit_code == 0
    assert not result.ok
    failure = result.failure("A1", 60)
    assert failure is not None
    assert failure.reason == "API Error: 400 {'type':'error'} second line"
    assert not failure.systemic


def test_error_subtype(tmp_path: Path) -> None:
    flags = ("--stream-json", "--subtype", "error_max_turns", "--exit", "1")
    result = run(
        tmp_path, *flags, "--is-error", "Reached maximum number of turns (2)", stream_json=True
    )
    failure = result.failure("A1", 60)
    assert failure is not None
    assert failure.reason == "error_max_turns: Reached maximum number of turns (2)"
    assert not failure.systemic


def test_not_logged_in_is_systemic(tmp_path: Path) -> None:
    result = run(tmp_path, "--not-logged-in", stream_json=True)
    assert result.exit_code == 1
    failure = result.failure("A1", 60)
    assert failure is not None
    assert failure.reason == "Claude Code is not logged in (Not logged in · Please run /login)"
    assert failure.systemic


def test_not_logged_in_in_plain_output(tmp_path: Path) -> None:
    result = run(tmp_path, "--stdout", "Not logged in · Please run /login", "--exit", "1")
    failure = result.failure("A1", 60)
    assert failure is not None
    assert failure.reason == "Claude Code is not logged in (Not logged in · Please run /login)"
    assert failure.systemic


def test_root_refusal_is_systemic(tmp_path: Path) -> None:
    result = run(tmp_path, f"--stderr={ROOT_TEXT} for security reasons", "--exit", "1")
    failure = result.failure("A1", 60)
    assert failure is not None
    assert failure.reason == ROOT_REASON
    assert "IS_SANDBOX=1" in failure.reason
    assert failure.systemic


def test_api_retry_401_is_systemic(tmp_path: Path) -> None:
    flags = ("--stream-json", "--api-retry", "401", "--exit", "1")
    result = run(
        tmp_path, *flags, "--is-error", "Invalid API key · Fix external API key", stream_json=True
    )
    assert result.api_errors == (401,)
    failure = result.failure("A1", 60)
    assert failure is not None
    assert failure.reason == "Claude Code is not logged in (Invalid API key · Fix external API key)"
    assert failure.systemic


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (401, "Claude Code is not logged in (the API answered 401 Unauthorized)"),
        (403, "the API refused Claude Code's credentials (the API answered 403 Forbidden)"),
    ],
)
def test_refused_credentials_end_the_agent_at_once(
    tmp_path: Path, status: int, reason: str
) -> None:
    """The CLI retries refused credentials for minutes; the second refusal in a row ends it."""
    flags = ("--stream-json", "--api-retry", str(status), "--api-retry", str(status), "--hang")
    result = run(tmp_path, *flags, stream_json=True, timeout=120)
    assert not result.timed_out and result.exit_code is None  # ended by us, long before
    assert result.api_errors == (status, status)
    failure = result.failure("A1", 120)
    assert failure is not None and failure.systemic
    assert failure.reason == reason
    log = result.log_path.read_text()
    assert "the API refused its credentials again and again; killed" in log


def test_one_refusal_followed_by_an_answer_goes_on(tmp_path: Path) -> None:
    """Claude Code renews a login after one 401 and goes on (measured): not ended."""
    result = run(tmp_path, "--stream-json", "--api-retry", "401", stream_json=True)
    assert result.ok, result.tail
    assert result.api_errors == (401,)


def test_api_retry_401_without_login_text(tmp_path: Path) -> None:
    flags = ("--stream-json", "--api-retry", "500", "--api-retry", "401", "--exit", "1")
    result = run(tmp_path, *flags, "--is-error", "API Error", stream_json=True)
    assert result.api_errors == (500, 401)
    failure = result.failure("A1", 60)
    assert failure is not None
    assert failure.systemic
    assert failure.reason == "Claude Code is not logged in (API Error)"


def test_ok_run_mentioning_login_is_ok(tmp_path: Path) -> None:
    result = run(tmp_path, "--stdout", "Not logged in", "--stdout", ROOT_TEXT)
    assert result.ok
    assert result.failure("A1", 60) is None


def test_timeout_kills_whole_tree(tmp_path: Path) -> None:
    record = tmp_path / "record.jsonl"
    pid_file = tmp_path / "grandchild.pid"
    flags = ("--spawn-grandchild", "--pid-file", str(pid_file), "--ignore-term")
    result = run(tmp_path, *flags, timeout=2, kill_grace=0.5, FAKE_AGENT_RECORD=str(record))
    assert result.timed_out
    assert result.exit_code is None
    assert not result.ok
    failure = result.failure("A1", 2)
    assert failure is not None
    assert failure.reason == "Task A1 timed out after 2s"
    assert not failure.systemic
    agent_pid = records(record)[0]["pid"]
    grandchild_pid = int(pid_file.read_text())
    assert gone(agent_pid)
    assert gone(grandchild_pid)
    assert "timed out" in result.log_path.read_text()


def test_orphans_are_killed_after_exit(tmp_path: Path) -> None:
    pid_file = tmp_path / "orphan.pid"
    result = run(tmp_path, "--spawn-orphan", "--pid-file", str(pid_file))
    assert result.ok
    assert gone(int(pid_file.read_text()))


def test_interrupt_kills_tree_and_reraises(tmp_path: Path) -> None:
    record = tmp_path / "record.jsonl"

    def interrupt(event: object) -> None:
        _thread.interrupt_main()

    flags = ("--stream-json", "--hang", "--ignore-term")
    with pytest.raises(KeyboardInterrupt) as info:
        run(
            tmp_path,
            *flags,
            stream_json=True,
            on_event=interrupt,
            kill_grace=0.5,
            FAKE_AGENT_RECORD=str(record),
        )
    result = interrupted_result(info.value)
    assert result is not None
    assert result.interrupted
    assert result.exit_code is None
    failure = result.failure("A1", 60)
    assert failure is not None
    assert failure.reason == "Task A1 was interrupted"
    assert "interrupted" in result.log_path.read_text().splitlines()[-1]
    assert gone(records(record)[0]["pid"])


def test_callback_errors_do_not_stop_reading(tmp_path: Path) -> None:
    def broken(event: object) -> None:
        raise RuntimeError("callback bug")

    result = run(tmp_path, "--stream-json", stream_json=True, on_event=broken)
    assert result.ok
    assert result.cost_usd == pytest.approx(0.0123)
    assert "callback bug" in result.log_path.read_text()


def _log_payload_size(log: Path) -> int:
    """Bytes of agent output in a log holding one run: all but our header and footer lines."""
    size = log.stat().st_size
    with log.open("rb") as file:
        header = len(file.readline())
        file.seek(max(0, size - 4096))
        end = file.read()
    footer = len(end) - end.rindex(b"=== roadmap agent end")
    return size - header - footer


def test_huge_binary_output_is_bounded(tmp_path: Path) -> None:
    size = 50_000_000
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = run(tmp_path, "--output-bytes", str(size), stream_json=True, timeout=300)
    growth_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert result.ok
    assert len(result.tail) <= 8 * 1024
    assert len(result.tail.splitlines()) <= 40
    assert _log_payload_size(result.log_path) in (size, size + 1)
    assert growth_mib < 40


def test_giant_line_without_newline(tmp_path: Path) -> None:
    size = 20_000_000
    result = run(tmp_path, "--giant-line", str(size), stream_json=True, timeout=300)
    assert result.ok
    assert result.result_event is None
    assert result.tail.endswith("a" * 100)
    assert len(result.tail) <= 8 * 1024
    assert _log_payload_size(result.log_path) in (size, size + 1)


def test_prompt_reaches_agent_exactly(tmp_path: Path) -> None:
    record = tmp_path / "record.jsonl"
    prompt = (
        "Ünïcødé ✓ 日本語 🚀\n$(touch pwned) `touch pwned2` 'single' \"double\" \\ $HOME\n"
        "\ttab\r\nlast line without newline" + "x" * 300_000
    ).encode() + b"\xff\xfe invalid"
    result = run(tmp_path, stdin=prompt, FAKE_AGENT_RECORD=str(record))
    assert result.ok
    start, end = records(record)
    assert start["event"] == "start"
    assert end["event"] == "end"
    assert end["outcome"] == "ok"
    assert start["prompt"].encode("utf-8", "surrogateescape") == prompt
    assert not (tmp_path / "pwned").exists()
    assert not (tmp_path / "pwned2").exists()


def test_large_prompt_not_read_does_not_deadlock(tmp_path: Path) -> None:
    prompt_file = tmp_path / "prompt.txt"
    prompt_file.write_text("from a file")
    record = tmp_path / "record.jsonl"
    result = run(
        tmp_path,
        "--prompt-file",
        str(prompt_file),
        stdin=b"y" * 5_000_000,
        FAKE_AGENT_RECORD=str(record),
    )
    assert result.ok
    assert records(record)[0]["prompt"] == "from a file"


def test_no_stdin_means_devnull(tmp_path: Path) -> None:
    record = tmp_path / "record.jsonl"
    result = run(tmp_path, stdin=None, FAKE_AGENT_RECORD=str(record))
    assert result.ok
    assert records(record)[0]["prompt"] == ""


def test_child_env_strips_nesting_guard() -> None:
    base = {"CLAUDECODE": "1", "CLAUDE_CODE_ENTRYPOINT": "cli", "PATH": "/bin", "KEEP": "a"}
    env = child_env(base, {"ROADMAP_TASK_ID": "A1", "KEEP": "b"})
    assert env == {"PATH": "/bin", "KEEP": "b", "ROADMAP_TASK_ID": "A1"}
    assert base["CLAUDECODE"] == "1"


def test_agent_not_found(tmp_path: Path) -> None:
    cmd = AgentCommand(("/nonexistent/claude", "-p"), tmp_path, {}, b"prompt", True)
    result = run_agent(cmd, tmp_path / "deep" / "dir" / "A1.log", 5)
    assert result.exit_code == 127
    assert not result.ok
    failure = result.failure("A1", 5)
    assert failure is not None
    assert failure.reason == "agent command not found: /nonexistent/claude"
    assert failure.systemic
    assert "agent command not found" in result.log_path.read_text()


def test_agent_not_executable(tmp_path: Path) -> None:
    script = tmp_path / "agent.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    cmd = AgentCommand((str(script),), tmp_path, {}, None, False)
    result = run_agent(cmd, tmp_path / "A1.log", 5)
    failure = result.failure("A1", 5)
    assert result.exit_code == 127
    assert failure is not None
    assert failure.reason == f"agent command not executable: {script}"
    assert failure.systemic


def test_exit_127_is_systemic(tmp_path: Path) -> None:
    result = run(tmp_path, "--stdout", "sh: claude: not found", "--exit", "127")
    failure = result.failure("A1", 60)
    assert failure is not None
    assert failure.systemic
    assert "claude: not found" in failure.reason


def test_failure_reason_is_one_capped_line(tmp_path: Path) -> None:
    result = AgentResult(
        exit_code=1,
        timed_out=False,
        interrupted=False,
        duration=1.0,
        log_path=tmp_path / "x.log",
        tail="",
        result_event={
            "type": "result",
            "subtype": "error_during_execution",
            "is_error": True,
            "errors": ["boom\n" * 200],
        },
    )
    failure = result.failure("A1", 60)
    assert failure is not None
    assert "\n" not in failure.reason
    assert len(failure.reason) <= 300
    assert failure.reason.startswith("error_during_execution: boom boom")


def test_fake_agent_plan_and_fail_first(tmp_path: Path) -> None:
    plan = json.dumps({"A2": ["--exit", "4"], "A3": ["--fail-first", "1"]})
    counter = str(tmp_path / "counter")
    a1 = run(tmp_path, task="A1", FAKE_AGENT_PLAN=plan)
    a2 = run(tmp_path, task="A2", FAKE_AGENT_PLAN=plan)
    first = run(tmp_path, task="A3", FAKE_AGENT_PLAN=plan, FAKE_AGENT_COUNTER=counter)
    second = run(tmp_path, task="A3", FAKE_AGENT_PLAN=plan, FAKE_AGENT_COUNTER=counter)
    assert (a1.exit_code, a2.exit_code, first.exit_code, second.exit_code) == (0, 4, 1, 0)


def test_fake_agent_writes_files(tmp_path: Path) -> None:
    result = run(
        tmp_path, "--write", "src/a.txt", "--write", "b.txt=hello", FAKE_AGENT_SLEEP="0.01"
    )
    assert result.ok
    assert (tmp_path / "src" / "a.txt").read_text() == "A1\n"
    assert (tmp_path / "b.txt").read_text() == "hello"


# -- the agent dies with pytest --------------------------------------------------------------

LINUX = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a Linux prctl")
PARENT = """
import sys
from pathlib import Path
from pytest_roadmap.agents.run import AgentCommand, run_agent
cwd = Path(sys.argv[1])
script = "echo $$ > agent.pid.tmp && mv agent.pid.tmp agent.pid && exec sleep 60"
cmd = AgentCommand((sys.argv[2], "-c", script), cwd, {"PATH": "/usr/bin:/bin"}, None, False)
run_agent(cmd, cwd / "agent.log", 120)
"""


def wait_until(what: str, done: Any, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@LINUX
@pytest.mark.parametrize("shell", ["/bin/sh", "./sh"], ids=["setpriv", "preexec"])
def test_agent_dies_when_its_parent_is_killed(tmp_path: Path, shell: str) -> None:
    """``kill -9`` of the process that started the agent ends the agent (SIGTERM)."""
    (tmp_path / "sh").symlink_to("/bin/sh")
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(tmp_path), shell])
    pid_file = tmp_path / "agent.pid"
    try:
        wait_until("the agent to start", pid_file.exists)
        agent_pid = int(pid_file.read_text())
        parent.kill()
        parent.wait(timeout=30)
        wait_until("the agent to end", lambda: gone(agent_pid))
    finally:
        parent.kill()
        parent.wait(timeout=30)
        if pid_file.exists() and not gone(pid := int(pid_file.read_text())):
            os.kill(pid, 9)


@LINUX
def test_launch_uses_setpriv_for_commands_on_path(tmp_path: Path) -> None:
    """Commands found on PATH start through setpriv (fast spawn); relative ones keep argv."""
    env = {"PATH": "/usr/bin:/bin"}
    argv, preexec = launch(("sh", "-c", "true"), env)
    if _setpriv() is None:
        assert argv == ["sh", "-c", "true"]
        assert preexec is not None
    else:
        assert argv[:4] == [_setpriv(), "--pdeathsig", "TERM", "--"]
        assert Path(argv[4]).name == "sh"
        assert argv[5:] == ["-c", "true"]
        assert preexec is None
    argv, preexec = launch(("./sh", "-c", "true"), env)
    assert argv == ["./sh", "-c", "true"]
    assert preexec is not None
