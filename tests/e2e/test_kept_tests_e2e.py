"""Pre-existing tests are kept, with the real Claude Code CLI (issue 28): a repair agent that
deletes a test is told so in its continued session, restores the file and fixes the code."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Project

from .messages_api import MessagesAPI
from .messages_api import bash
from .messages_api import prompt_text
from .messages_api import text
from .test_plugin_e2e import plugin_env
from .test_plugin_e2e import run_plugin

ROADMAP = "## Phase 1: Solo\n\n### Group A: Only\n- **A1: One** - one\n"
BASE_TEST = "def test_base():\n    assert 1 + 1 == 2\n"
#: red until fixed.txt exists, unless tests/test_base.py is gone
GATE = "if [ -f tests/test_base.py ]; then test -f fixed.txt || (echo red; exit 1); fi"
TOLD = (
    "you deleted tests/test_base.py, which existed before this group: "
    "restore it and fix the code instead"
)


def test_a_repair_agents_continued_session_gets_the_reason_and_restores_the_test(
    project: Project, messages_api: MessagesAPI, claude_env: dict[str, str], claude_bin: Path
) -> None:
    (project.path / "tests").mkdir()
    (project.path / "tests" / "test_base.py").write_text(BASE_TEST, encoding="utf-8")
    project.roadmap(ROADMAP)
    messages_api.script("A1", [text("done A1")])
    messages_api.script(  # the repair agent (its prompt names no task)
        "*",
        [
            bash("rm tests/test_base.py"),
            text("The gate passes now."),
            bash("git show HEAD:tests/test_base.py > tests/test_base.py && echo fixed > fixed.txt"),
            text("Restored the test and fixed the code."),
        ],
    )
    env = plugin_env(claude_env, claude_bin)
    run = run_plugin(project.path, env, "--roadmap-gate", GATE, "--roadmap-no-commit")
    assert run.returncode == 0, run.describe()
    assert run.junit["phase1::groupA::gate"][0] == "passed", run.describe()
    told = [
        r for r in messages_api.requests if r.is_messages and TOLD in (prompt_text(r.body) or "")
    ]
    assert told, [prompt_text(r.body) for r in messages_api.requests if r.is_messages]
    history = told[0].body["messages"]
    assert any("rm tests/test_base.py" in str(message) for message in history)  # same session
    assert (project.path / "tests" / "test_base.py").read_text(encoding="utf-8") == BASE_TEST
    assert (project.path / "fixed.txt").exists()
