"""The real Claude Code CLI runs a destructive git command in the shared tree (issue 26).

A3's agent (run last, one worker) runs ``git reset --hard && git clean -fd`` through its
Bash tool, then writes its own module. By default Claude Code refuses the command (the
plugin's permission rules); with the allow destructive git setting it runs, and the run
puts A1's and A2's modules back. Either way the phase commit holds every task's work.
"""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Project
from tests.conftest import git

from .messages_api import MessagesAPI
from .messages_api import bash
from .messages_api import text
from .test_plugin_e2e import ROADMAP_THREE_IN_A
from .test_plugin_e2e import make_project
from .test_plugin_e2e import module_script
from .test_plugin_e2e import plugin_env
from .test_plugin_e2e import run_plugin
from .test_plugin_e2e import stream_events
from .test_plugin_e2e import task_logs
from .test_plugin_e2e import write_module

WIPE = "git reset --hard && git clean -fd"


def script_the_wipe(messages_api: MessagesAPI) -> None:
    for task in ("A1", "A2", "B1"):
        messages_api.script(task, module_script(task))
    messages_api.script("A3", [bash(WIPE), bash(write_module("a3")), text("done A3")])


def bash_calls(path: Path, task: str) -> list[str]:
    """The commands of the task's Bash tool calls, from its log's stream."""
    return [
        block["input"]["command"]
        for event in stream_events(task_logs(path, task)[0])
        if event.get("type") == "assistant"
        for block in event["message"]["content"]
        if block.get("type") == "tool_use"
    ]


def assert_every_task_committed(path: Path) -> None:
    committed = git(path, "show", "--name-only", "--format=", "HEAD").split()
    assert {"src/a1.js", "src/a2.js", "src/a3.js", "src/b1.js"} <= set(committed), committed
    assert git(path, "log", "--format=%s").splitlines()[0] == "Complete Phase 1: Foundation"


def test_an_agents_git_reset_hard_is_refused(
    project: Project,
    messages_api: MessagesAPI,
    claude_env: dict[str, str],
    claude_bin: Path,
) -> None:
    script_the_wipe(messages_api)
    path = make_project(project, ROADMAP_THREE_IN_A)

    run = run_plugin(path, plugin_env(claude_env, claude_bin), "-n", "1")

    assert run.returncode == 0, run.describe()
    assert "destructive git command" not in run.stdout, run.describe()
    events = stream_events(task_logs(path, "A3")[0])
    result = next(event for event in events if event.get("type") == "result")
    denied = [denial["tool_input"]["command"] for denial in result["permission_denials"]]
    assert denied == [WIPE], result
    refused = [r for r in messages_api.requests_for("A3")[1].tool_results() if r["is_error"]]
    assert "has been denied" in str(refused[0]["content"]), refused
    assert_every_task_committed(path)


def test_an_agents_git_reset_hard_when_allowed_loses_nothing(
    project: Project,
    messages_api: MessagesAPI,
    claude_env: dict[str, str],
    claude_bin: Path,
) -> None:
    script_the_wipe(messages_api)
    path = make_project(project, ROADMAP_THREE_IN_A)

    run = run_plugin(
        path, plugin_env(claude_env, claude_bin), "-n", "1", "--roadmap-allow-destructive-git"
    )

    assert run.returncode == 0, run.describe()
    assert (
        "A3's agent ran a destructive git command: restored 2 files of A1 and A2" in run.stdout
    ), run.describe()
    # the CLI ran the command: its Bash tool call is in A3's stream, not refused
    assert bash_calls(path, "A3")[0] == WIPE
    result = next(e for e in stream_events(task_logs(path, "A3")[0]) if e.get("type") == "result")
    assert result["permission_denials"] == [], result
    assert_every_task_committed(path)
