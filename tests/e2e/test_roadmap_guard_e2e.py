"""The roadmap is the user's, with the real Claude Code CLI (issue 27): its Edit of ROADMAP.md
is refused by the permission rules, an edit by a script is put back, and the next run does the
work the agent ticked."""

from __future__ import annotations

import shlex
from pathlib import Path

from tests.conftest import Project
from tests.conftest import git

from .messages_api import MessagesAPI
from .messages_api import bash
from .messages_api import text
from .messages_api import tool_use
from .test_plugin_e2e import plugin_env
from .test_plugin_e2e import run_plugin

ROADMAP = """\
# Guarded

## Phase 1: First

### Group A: Start
- [ ] **A1: Start** - write a1.txt

## Phase 2: Second

### Group B: Next
- [ ] **B1: Next** - write b1.txt
"""

#: a Bash command the CLI does not see as an edit of ROADMAP.md: it runs, the run puts it back
TICK = (
    "import pathlib; p = pathlib.Path('ROADMAP.md'); "
    "p.write_text(p.read_text().replace('- [ ] **B1', '- [x] **B1'))"
)


def test_an_agents_tick_is_refused_or_put_back_and_the_next_run_does_the_work(
    project: Project, messages_api: MessagesAPI, claude_env: dict[str, str], claude_bin: Path
) -> None:
    project.roadmap(ROADMAP)
    roadmap = project.path / "ROADMAP.md"
    original = roadmap.read_bytes()
    edit = {"file_path": str(roadmap), "old_string": "- [ ] **B1", "new_string": "- [x] **B1"}
    messages_api.script(
        "A1",
        [
            tool_use("Read", {"file_path": str(roadmap)}),
            tool_use("Edit", edit),
            bash("sed -i 's/- \\[ \\] \\*\\*B1/- [x] **B1/' ROADMAP.md"),
            bash(f"python3 -c {shlex.quote(TICK)} && echo a1 > a1.txt"),
            text("done A1"),
        ],
    )
    messages_api.script("B1", [bash("echo b1 > b1.txt"), text("done B1")])
    env = plugin_env(claude_env, claude_bin)

    first = run_plugin(project.path, env, "--roadmap-phases", "1", "--roadmap-gate", "true")
    assert first.returncode == 0, first.describe()
    answers = [r.tool_results() for r in messages_api.requests_for("A1")]
    edit_answer, sed_answer, python_answer = answers[2][0], answers[3][0], answers[4][0]
    assert edit_answer["is_error"] is True, answers
    assert "denied by your permission settings" in str(edit_answer["content"])
    # seen with CLI 2.1.328: the Edit rules cover a Bash `sed -i` of the file too ...
    assert sed_answer["is_error"] is True and "has been denied" in str(sed_answer["content"])
    # ... but not a script that writes it: that edit is put back by the run
    assert not python_answer.get("is_error"), answers
    line = (
        "A1's agent changed ROADMAP.md (marked B1 done): put back; "
        "its version is in status/ROADMAP.from-A1.md"
    )
    assert line in first.stdout, first.describe()
    assert roadmap.read_bytes() == original
    assert git(project.path, "show", "HEAD:ROADMAP.md").encode() == original
    assert "- [x] **B1" in (project.path / "status" / "ROADMAP.from-A1.md").read_text()
    assert not messages_api.requests_for("B1")

    second = run_plugin(project.path, env, "--roadmap-gate", "true")
    assert second.returncode == 0, second.describe()
    assert messages_api.requests_for("B1"), second.describe()
    assert (project.path / "b1.txt").read_text() == "b1\n"
    assert second.junit["phase2::groupB::B1"][0] == "passed"
