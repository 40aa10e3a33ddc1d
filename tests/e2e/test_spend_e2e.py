"""Spending the allowance well, end to end, with the real Claude Code CLI in its default
environment logged in with a subscription (``CLAUDE_CODE_OAUTH_TOKEN``): the usage reserve
holds new tasks while the scripted server's ``anthropic-ratelimit-unified-*`` headers say
the 5-hour window is 95 % used; a Model column reaches the API as the CLI's own model ids.
"""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from tests.conftest import Project

from .messages_api import MessagesAPI
from .test_plugin_e2e import make_project
from .test_plugin_e2e import outcome
from .test_plugin_e2e import plugin_env
from .test_plugin_e2e import run_plugin
from .test_plugin_e2e import task_logs
from .test_unattended_e2e import TASKS
from .test_unattended_e2e import oauth_env
from .test_unattended_e2e import script_modules

TASK_IDS = ("A1", "A2", "B1")
#: seconds from now to the window's reset: more than group A takes
RESET_IN = 45.0


def test_a_usage_reserve_holds_the_next_group_until_the_window_resets(
    project: Project, messages_api: MessagesAPI, claude_env: dict[str, str], claude_bin: Path
) -> None:
    script_modules(messages_api)
    reset_at = time.monotonic() + RESET_IN
    messages_api.usage(0.95, time.time() + RESET_IN)  # on every answer until the reset
    path = make_project(project)

    run = run_plugin(path, oauth_env(claude_env, claude_bin), "--roadmap-usage-reserve", "10")

    assert run.returncode == 0, run.describe()
    for local in TASKS:
        assert outcome(run, local) == "passed", run.describe()
    assert re.search(
        r"5-hour window 95% used \(reserve 10%\): no new task until \d\d:\d\d \(in \d+s\)",
        run.stdout,
    ), run.describe()
    assert "the window reset, the run goes on" in run.stdout
    assert "allowance used: 5-hour 95%" in run.stdout
    b1 = messages_api.requests_for("B1")
    assert b1 and b1[0].received_at >= reset_at, run.describe()  # group B after the reset
    assert all(r.received_at < reset_at for r in messages_api.requests_for("A1"))
    assert run.leftover == []


MODEL_TABLE = """\
# E2E roadmap

## Phase 1: Foundation

### Group A: Modules

| Task | Model |
|------|-------|
| **A1: First module** - create src/a1.js exporting a1 | haiku |
| **A2: Second module** - create src/a2.js exporting a2 | sonnet |

### Group B (Parallel, after A)
- **B1: Third module** - create src/b1.js exporting b1
"""


def test_a_model_column_reaches_the_api_and_the_report(
    project: Project, messages_api: MessagesAPI, claude_env: dict[str, str], claude_bin: Path
) -> None:
    script_modules(messages_api)
    path = make_project(project, MODEL_TABLE)

    run = run_plugin(path, plugin_env(claude_env, claude_bin))

    assert run.returncode == 0, run.describe()
    for local in TASKS:
        assert outcome(run, local) == "passed", run.describe()
    sent = {t: {r.body.get("model") for r in messages_api.requests_for(t)} for t in TASK_IDS}
    assert all("haiku" in model for model in sent["A1"]), sent
    assert all("sonnet" in model for model in sent["A2"]), sent
    [a1_log] = task_logs(path, "A1")
    [b1_log] = task_logs(path, "B1", group="B")
    assert "--model haiku" in a1_log.read_text(encoding="utf-8")
    assert "--model" not in b1_log.read_text(encoding="utf-8").split("\n", 1)[0]  # the default
    (default,) = sent["B1"]
    junit = ET.parse(path.parent / f"{path.name}-junit.xml").getroot()
    used = {
        case.get("name"): prop.get("value")
        for case in junit.iter("testcase")
        for prop in case.iter("property")
        if prop.get("name") == "model"
    }
    assert used == {"A1": next(iter(sent["A1"])), "A2": next(iter(sent["A2"])), "B1": default}
    assert re.search(rf"cost by model: .*{default} \$", run.stdout), run.stdout
    assert re.search(r"cost by model: .*haiku.* \$.*\(1 task\)", run.stdout), run.stdout
