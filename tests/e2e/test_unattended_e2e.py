"""Unattended runs end to end, with the real Claude Code CLI in its default environment:
a subscription's usage limit waited out or stopped at, and a silent API call (a refused
key: test_plugin_e2e.py).

The account is an OAuth login (``CLAUDE_CODE_OAUTH_TOKEN``, no API key), as Pro/Max
users run it; the scripted server answers with the usage limit's 429 and its
``anthropic-ratelimit-unified-*`` headers until a given time.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from tests.conftest import Project

from .messages_api import MessagesAPI
from .messages_api import hang
from .test_plugin_e2e import ROADMAP
from .test_plugin_e2e import make_project
from .test_plugin_e2e import module_script
from .test_plugin_e2e import outcome
from .test_plugin_e2e import plugin_env
from .test_plugin_e2e import requests_by_prompt
from .test_plugin_e2e import run_plugin
from .test_plugin_e2e import status_lines
from .test_plugin_e2e import task_logs

TASKS = ("phase1::groupA::A1", "phase1::groupA::A2", "phase1::groupB::B1")


def oauth_env(claude_env: dict[str, str], claude_bin: Path) -> dict[str, str]:
    """A subscription login instead of an API key; nothing else changed."""
    return plugin_env(
        claude_env, claude_bin, ANTHROPIC_API_KEY=None, CLAUDE_CODE_OAUTH_TOKEN="test-oauth-token"
    )


def script_modules(api: MessagesAPI) -> None:
    for task in ("A1", "A2", "B1"):
        api.script(task, module_script(task))


def limited(api: MessagesAPI, task: str) -> int:
    return sum(1 for r in api.requests_for(task) if r.limited)


def resumed(project_dir: Path, task: str) -> bool:
    """The task's log shows a second CLI run continuing the first one's session."""
    [log] = task_logs(project_dir, task)
    starts = [
        line
        for line in log.read_text(encoding="utf-8").splitlines()
        if "roadmap agent start" in line
    ]
    return len(starts) == 2 and "--resume" in starts[1] and "--resume" not in starts[0]


def test_a_usage_limit_is_waited_out_and_the_sessions_continue(
    project: Project, messages_api: MessagesAPI, claude_env: dict[str, str], claude_bin: Path
) -> None:
    script_modules(messages_api)
    messages_api.usage_limit(time.time() + 30, together=("A1", "A2"))
    path = make_project(project)

    run = run_plugin(path, oauth_env(claude_env, claude_bin))

    assert run.returncode == 0, run.describe()
    for local in TASKS:
        assert outcome(run, local) == "passed", run.describe()
    assert re.search(
        r"usage limit \(5-hour\) reached: waiting until \d\d:\d\d \(in \d+s\); Ctrl-C stops",
        run.stdout,
    ), run.describe()
    assert "usage limit (5-hour) over: the run goes on" in run.stdout
    for task in ("A1", "A2"):
        assert limited(messages_api, task) <= 1, messages_api.requests_for(task)
        assert resumed(path, task), run.describe()
    assert limited(messages_api, "B1") == 0  # B1 started after the reset
    assert (path / "src" / "a1.js").is_file() and (path / "src" / "b1.js").is_file()
    assert run.leftover == []


def test_a_limit_too_far_away_stops_the_run_and_a_later_run_resumes(
    project: Project, messages_api: MessagesAPI, claude_env: dict[str, str], claude_bin: Path
) -> None:
    script_modules(messages_api)
    messages_api.usage_limit(time.time() + 3600, together=("A1", "A2"))
    path = make_project(project)
    env = oauth_env(claude_env, claude_bin)

    run = run_plugin(path, env, "--roadmap-limit-wait", "0")

    assert run.returncode != 0, run.describe()
    assert re.search(
        r"stopping: usage limit \(5-hour\) reached: resets at (\w{3} )?\d\d:\d\d "
        r"\(in (59m|1h 00m)\); --roadmap-limit-wait is 0; resume after the reset with: pytest ",
        run.stdout,
    ), run.describe()
    assert run.elapsed < 1200, run.describe()  # it did not wait for the reset, an hour away
    assert sorted(status_lines(path, "interrupted_tasks.txt")) == ["PHASE_1:A:A1", "PHASE_1:A:A2"]
    assert "B1" not in requests_by_prompt(messages_api)
    assert status_lines(path, "completed_tasks.txt") == []
    assert run.leftover == []

    messages_api.usage_limit(time.time())  # the reset came
    again = run_plugin(path, env)

    assert again.returncode == 0, again.describe()
    for local in TASKS:
        assert outcome(again, local) == "passed", again.describe()
    assert sorted(status_lines(path, "interrupted_tasks.txt")) == []


def test_a_silent_api_call_is_ended_and_the_retry_passes(
    project: Project, messages_api: MessagesAPI, claude_env: dict[str, str], claude_bin: Path
) -> None:
    messages_api.script("A1", [hang(), *module_script("A1")])
    messages_api.script("A2", module_script("A2"))
    messages_api.script("B1", module_script("B1"))
    path = make_project(project, ROADMAP)

    run = run_plugin(
        path,
        plugin_env(claude_env, claude_bin),
        "--roadmap-idle-timeout",
        "5",
        "-o",
        "roadmap_retry_backoff=1",
    )

    assert run.returncode == 0, run.describe()
    for local in TASKS:
        assert outcome(run, local) == "passed", run.describe()
    [log] = task_logs(path, "A1")
    text = log.read_text(encoding="utf-8")
    assert "=== roadmap agent end: no output for 5s; killed" in text, text[-2000:]
    assert resumed(path, "A1")
    assert (path / "src" / "a1.js").is_file()
    assert run.leftover == []
