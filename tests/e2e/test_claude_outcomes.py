"""The real Claude Code CLI's remaining headless outcomes, read through the plugin.

API errors the CLI retries by itself (5xx, 429) must end at our task timeout with a
message saying what the log shows; the per-task limits pass through to the CLI's own
flags; ``--roadmap-resume-sessions`` continues an unfinished task's session.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Project

from .messages_api import MessagesAPI
from .messages_api import bash
from .messages_api import hang
from .messages_api import status
from .messages_api import text
from .test_plugin_e2e import make_project
from .test_plugin_e2e import module_script
from .test_plugin_e2e import plugin_env
from .test_plugin_e2e import run_plugin

ONE_TASK = """\
## Phase 1: Solo

### Group A: One
- **A1: First module** - create src/a1.js exporting a1
"""


def log_text(project_dir: Path, task: str) -> str:
    logs = sorted((project_dir / "logs" / "orchestrator").glob(f"phase1_groupA_{task}_*.log"))
    return "\n".join(path.read_text(errors="replace") for path in logs)


@pytest.mark.parametrize(("code", "name"), [(500, "server error"), (429, "rate limit")])
def test_api_errors_retried_by_the_cli_end_at_the_task_timeout(
    project: Project,
    messages_api: MessagesAPI,
    claude_env: dict[str, str],
    claude_bin: Path,
    code: int,
    name: str,
) -> None:
    folder = make_project(project, ONE_TASK)
    messages_api.script("A1", [status(code) for _ in range(50)])
    env = plugin_env(claude_env, claude_bin)
    run = run_plugin(folder, env, "--roadmap-task-timeout", "6", "--roadmap-no-gates")
    assert run.returncode == 1, run.describe()
    outcome, message = run.junit["phase1::groupA::A1"]
    assert outcome == "failed", run.describe()
    first = message.strip().splitlines()[0]
    assert first.startswith("Task A1 timed out after 6s while the API kept failing (HTTP "), first
    assert f"HTTP {code}" in first, (name, first)
    assert '"api_retry"' in log_text(folder, "A1")
    assert not run.leftover


def test_max_turns_option_reaches_the_cli(
    project: Project, messages_api: MessagesAPI, claude_env: dict[str, str], claude_bin: Path
) -> None:
    folder = make_project(project, ONE_TASK)
    messages_api.script("A1", [bash("true"), bash("true"), bash("true"), text("never")])
    env = plugin_env(claude_env, claude_bin)
    run = run_plugin(folder, env, "--roadmap-claude-max-turns", "1", "--roadmap-no-gates")
    outcome, message = run.junit["phase1::groupA::A1"]
    assert outcome == "failed", run.describe()
    assert message.startswith("error_max_turns: Reached maximum number of turns (1)"), message
    assert "--max-turns 1" in log_text(folder, "A1")


def test_budget_option_reaches_the_cli(
    project: Project, messages_api: MessagesAPI, claude_env: dict[str, str], claude_bin: Path
) -> None:
    folder = make_project(project, ONE_TASK)
    messages_api.script("A1", [bash("true"), bash("true"), bash("true"), text("never")])
    env = plugin_env(claude_env, claude_bin)
    run = run_plugin(folder, env, "--roadmap-max-budget-usd", "0.001", "--roadmap-no-gates")
    assert "--max-budget-usd 0.001" in log_text(folder, "A1")
    outcome, message = run.junit["phase1::groupA::A1"]
    assert outcome == "failed", run.describe()
    assert "budget" in message.lower(), message


def test_resume_sessions_continues_the_unfinished_session(
    project: Project, messages_api: MessagesAPI, claude_env: dict[str, str], claude_bin: Path
) -> None:
    folder = make_project(project, ONE_TASK)
    messages_api.script("A1", [hang()])
    env = plugin_env(claude_env, claude_bin)
    first = run_plugin(folder, env, "--roadmap-task-timeout", "5", "--roadmap-no-gates")
    assert first.junit["phase1::groupA::A1"][0] == "failed", first.describe()
    before = len(messages_api.requests)

    messages_api.script("A1", module_script("A1"))
    second = run_plugin(folder, env, "--roadmap-resume-sessions", "--roadmap-no-gates")
    assert second.returncode == 0, second.describe()
    assert (folder / "src" / "a1.js").exists()
    resumed = messages_api.requests[before:]
    assert resumed, "the resumed run sent no request"
    body = str(resumed[0].body)
    assert "Continue Phase 1, Group A, Task A1: First module" in body
    assert "Implement Phase 1, Group A, Task A1: First module" in body  # the earlier turn
    assert "--resume" in log_text(folder, "A1")
