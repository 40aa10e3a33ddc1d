"""Task checks end to end with the real Claude Code CLI: a failing check's output reaches the
session that did the work, continued with ``--resume``, and its fix makes the task pass."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import Project

from .messages_api import MessagesAPI
from .messages_api import bash
from .messages_api import text
from .test_plugin_e2e import make_project
from .test_plugin_e2e import outcome
from .test_plugin_e2e import plugin_env
from .test_plugin_e2e import run_plugin
from .test_plugin_e2e import task_logs

ROADMAP = """\
# E2E checks

## Phase 1: Foundation

### Group A: Modules
| Task | What | Verify |
|---|---|---|
| **A1: First module** | create src/a1.js exporting a1 = 1 | `node checks/A1.js` |
"""

CHECK = """\
import { a1 } from "../src/a1.js";
if (a1 !== 1) {
  console.log(`A1 check: expected a1 = 1, got ${a1}`);
  process.exit(1);
}
console.log("A1 check: ok");
"""


def write(value: int) -> str:
    return f"mkdir -p src && printf 'export const a1 = {value};\\n' > src/a1.js"


def all_text(body: Any) -> str:
    """Every text and tool result of a request, as one string."""
    return json.dumps(body.get("messages", []), ensure_ascii=False)


def test_a_failing_check_goes_back_to_the_same_session(
    project: Project,
    messages_api: MessagesAPI,
    claude_env: dict[str, str],
    claude_bin: Path,
) -> None:
    messages_api.script(
        "A1",
        [bash(write(2)), text("done A1"), bash(write(1)), text("fixed A1")],
    )
    (project.path / "checks").mkdir()
    (project.path / "checks" / "A1.js").write_text(CHECK, encoding="utf-8")
    path = make_project(project, ROADMAP)

    run = run_plugin(
        path, plugin_env(claude_env, claude_bin), "--roadmap-no-gates", "--roadmap-no-commit"
    )

    assert run.returncode == 0, run.describe()
    assert outcome(run, "phase1::groupA::A1") == "passed"
    assert (path / "src" / "a1.js").read_text() == "export const a1 = 1;\n"
    turns = messages_api.requests_for("A1")
    assert len(turns) == 4, [all_text(t.body)[-300:] for t in turns]
    resumed = all_text(turns[2].body)
    # the same conversation, continued: the first round's prompt and work are in it
    assert "Task A1: First module" in resumed and "export const a1 = 2" in resumed
    # and the check's command and output
    assert "its check `node checks/A1.js` exited 1" in resumed
    assert "A1 check: expected a1 = 1, got 2" in resumed
    [log] = task_logs(path, "A1")
    starts = [line for line in log.read_text().splitlines() if "roadmap agent start" in line]
    session = json.loads(
        next(line for line in log.read_text().splitlines() if '"type":"result"' in line)
    )["session_id"]
    assert any(f"--resume {session}" in line for line in starts), starts
    assert "A1 check: ok" in log.read_text()
    assert run.leftover == []


TWO = """\
# E2E culprit

## Phase 1: Foundation

### Group A: Modules
- **A1: First module** - create src/a1.js exporting a1
- **A2: Second module** - create src/a2.js exporting a2
"""


def test_the_culprit_session_gets_the_merged_gate_failure_and_fixes_it(
    project: Project,
    messages_api: MessagesAPI,
    claude_env: dict[str, str],
    claude_bin: Path,
) -> None:
    """Also pins down that Claude Code continues a session started in a worktree from the
    main tree (checked with 2.1.328): a later CLI may change that."""
    good = "mkdir -p src && printf 'export const a2 = 2;\\n' > src/a2.js"
    bad = "mkdir -p src && printf 'export const a2 = \"bad\";\\n' > src/a2.js"
    messages_api.script("A1", [bash(write(1)), text("done A1")])
    messages_api.script("A2", [bash(bad), text("done A2"), bash(good), text("fixed A2")])
    path = make_project(project, TWO)
    gate = "! grep -q bad src/a2.js"

    run = run_plugin(
        path,
        plugin_env(claude_env, claude_bin),
        "--roadmap-isolation",
        "worktree",
        "--roadmap-gate",
        gate,
        "-o",
        "roadmap_task_gate=none",
        "--roadmap-no-commit",
    )

    assert run.returncode == 0, run.describe()
    assert outcome(run, "phase1::groupA::gate") == "passed"
    assert f"gate failed: `{gate}` first fails after merging A2" in run.output
    assert (path / "src" / "a2.js").read_text() == "export const a2 = 2;\n"
    assert len(messages_api.requests_for("A1")) == 2  # never sent the failure
    turns = messages_api.requests_for("A2")
    assert len(turns) == 4, [all_text(t.body)[-300:] for t in turns]
    resumed = all_text(turns[2].body)
    assert "done A2" in resumed  # the first round's answer, in the history
    assert "Task A2: Second module" in resumed  # the worktree session's own history
    assert f"the group's gate now fails: `{gate}` exited with code 1" in resumed
    [log] = task_logs(path, "A2-gate")
    first = log.read_text().splitlines()[0]
    assert f"cd {path}" in first and "--resume " in first, first
    assert run.leftover == []
