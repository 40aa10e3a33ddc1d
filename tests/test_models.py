"""The model per task: a Model column or field, a group's default, the run's; passed to the
agent; escalated after a failed run; shown in the JUnit report and the summary."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pytest_roadmap.agents.models import with_model
from pytest_roadmap.agents.run import AgentCommand
from pytest_roadmap.model.models import ModelError
from pytest_roadmap.model.models import escalated
from pytest_roadmap.model.models import group_model
from pytest_roadmap.model.models import task_model
from pytest_roadmap.model.roadmap import parse_roadmap

from .conftest import Project

TIMEOUT = 120

MODELS = """\
# Models

## Phase 1: Work

### Group A: Table

| Task | Model | Notes |
|------|-------|-------|
| **A1: Cheap** | haiku | small |
| **A2: Middle** | sonnet | |
| **A3: Default** | | no model |

### Group B: Fields (model: opus)
- **B1: Own** - one
  Model: `claude-haiku-4-5`
- **B2: Group's** - two

### Group C: Intro

Model: sonnet

- **C1: Under an intro** - three

### Group D: Run-wide
- **D1: The run's** - four
"""


def argv_of(project: Project) -> dict[str, list[str]]:
    return {str(r["task"]): list(r["argv"]) for r in project.records("start")}


def model_arg(argv: list[str]) -> str:
    return argv[argv.index("--model") + 1]


def junit_props(xml: Path, name: str) -> dict[str, str]:
    for case in ET.parse(xml).getroot().iter("testcase"):
        if case.get("name") == name:
            return {p.get("name", ""): p.get("value", "") for p in case.iter("property")}
    raise AssertionError(f"no test case {name}")


# -- choosing ------------------------------------------------------------------------------


def test_a_model_column_or_field_names_the_task_model() -> None:
    roadmap = parse_roadmap(MODELS)
    tasks = {task.id: task for _, _, task in roadmap.tasks()}
    assert task_model(tasks["A1"].text, "A1") == "haiku"
    assert task_model(tasks["A2"].text, "A2") == "sonnet"
    assert task_model(tasks["A3"].text, "A3") is None
    assert task_model(tasks["B1"].text, "B1") == "claude-haiku-4-5"
    assert task_model("- **Model:** opus\nmore", "x") == "opus"
    assert task_model("Update the data model: add a field", "x") is None


def test_a_group_names_its_model_in_its_heading_or_under_it() -> None:
    assert group_model("### Group B: Fields (model: opus)", [], "B") == "opus"
    assert group_model("### Group C: Intro", ["", "Model: sonnet", ""], "C") == "sonnet"
    assert group_model("### Group D: Run-wide", ["text"], "D") is None


def test_a_model_that_is_no_name_is_one_clear_line() -> None:
    with pytest.raises(ModelError, match=r"^ROADMAP.md:7: task A1: invalid model 'the User"):
        task_model("Model: the User table", "ROADMAP.md:7: task A1")


def test_escalation_climbs_the_list_and_stays_on_top() -> None:
    ladder = ("sonnet", "opus")
    assert escalated("haiku", ladder, "haiku") == "sonnet"
    assert escalated("sonnet", ladder, "sonnet") == "opus"
    assert escalated("sonnet", ladder, "opus") == "opus"
    assert escalated("haiku", (), "haiku") == "haiku"


def test_each_agent_gets_the_model_its_own_way() -> None:
    command = AgentCommand(("codex", "exec", "--json", "-"), Path(), {}, None, True)
    assert with_model(command, "codex", "o3").argv == ("codex", "exec", "-m", "o3", "--json", "-")
    claude = AgentCommand(("claude", "-p"), Path(), {}, None, True)
    assert with_model(claude, "claude", "haiku").argv == ("claude", "-p", "--model", "haiku")
    assert with_model(claude, "claude", None).argv == ("claude", "-p")
    user = AgentCommand(("agent", "--llm={model}"), Path(), {}, None, True)
    assert with_model(user, "command", None).argv == ("agent", "--llm=")
    assert with_model(user, "command", "opus").model == "opus"


# -- runs ----------------------------------------------------------------------------------


def test_every_task_runs_on_its_model_and_the_report_says_which(project: Project) -> None:
    project.roadmap(MODELS)
    xml = project.path.parent / f"{project.path.name}-junit.xml"
    agent = project.agent("--stream-json", "--model", "{model}")
    result = project.run(
        "-n", "2", "--roadmap-model", "haiku-run", f"--junitxml={xml}", agent=agent, timeout=TIMEOUT
    )
    out = result.stdout.str()
    assert result.ret == 0, out
    models = {task: model_arg(argv) for task, argv in argv_of(project).items()}
    assert models == {
        "A1": "haiku",
        "A2": "sonnet",
        "A3": "haiku-run",
        "B1": "claude-haiku-4-5",
        "B2": "opus",
        "C1": "sonnet",
        "D1": "haiku-run",
    }
    for task, model in models.items():
        assert junit_props(xml, task)["model"] == model
    assert "cost by model: claude-haiku-4-5 $0.0123 (1 task), haiku $0.0123 (1 task)" in out
    assert "model" in out.split("roadmap summary")[1].splitlines()[1]  # the column


def test_the_claude_preset_passes_the_model_and_none_without_one(project: Project) -> None:
    project.roadmap(MODELS)
    result = project.run("--roadmap-dry-run", "--roadmap-agent", "claude", timeout=TIMEOUT)
    out = result.stdout.str()
    assert result.ret == 0, out
    lines = {line.split()[1]: line for line in out.splitlines() if " would run: " in line}
    assert "--model haiku " in lines["A1"] and "--model opus " in lines["B2"]
    assert "--model" not in lines["A3"] and "--model" not in lines["D1"]


def test_repair_agents_use_the_repair_model(project: Project) -> None:
    project.roadmap("# R\n\n## Phase 1: P\n\n### Group A: G\n- **A1: One** - one\n")
    gate = "test -f fixed.txt"
    agent = project.agent("--stream-json", "--model", "{model}")
    result = project.run(
        "--roadmap-gate",
        gate,
        "-o",
        "roadmap_repair_model=opus",
        agent=agent,
        plan={"fix1": ["--write", "fixed.txt"]},
        timeout=TIMEOUT,
    )
    assert result.ret == 0, result.stdout.str()
    models = [(r["task"], model_arg(list(r["argv"]))) for r in project.records("start")]
    assert models == [("A1", ""), ("fix1", "opus")]


ESCALATION = "# E\n\n## Phase 1: P\n\n### Group A: G\n- **A1: One** - one\n  Model: haiku\n"
LADDER = "[pytest]\nroadmap_model_escalation =\n    sonnet\n    opus\n"


def test_a_failed_round_continues_its_session_on_the_next_model(project: Project) -> None:
    project.roadmap(ESCALATION)
    project.pytester.makeini(LADDER)
    counter = project.path.parent / f"{project.path.name}-counter"
    xml = project.path.parent / f"{project.path.name}-junit.xml"
    agent = project.agent("--stream-json", "--model", "{model}")
    fail_once = ["--fail-first", "1", "--counter", str(counter)]
    result = project.run(f"--junitxml={xml}", agent=agent, plan={"A1": fail_once}, timeout=TIMEOUT)
    assert result.ret == 0, result.stdout.str()
    first, second = project.records("start")
    assert model_arg(list(first["argv"])) == "haiku"
    assert model_arg(list(second["argv"])) == "sonnet"
    assert "now on sonnet" in str(second["prompt"])  # the session continued, not a new prompt
    assert junit_props(xml, "A1")["model"] == "sonnet"


def test_a_task_that_failed_a_run_runs_on_the_next_model_next_time(project: Project) -> None:
    """Without a session to continue (no stream-json here), the next run moves up."""
    project.roadmap(ESCALATION)
    project.pytester.makeini(LADDER)
    agent = project.agent("--model", "{model}")
    for _ in range(3):
        result = project.run(agent=agent, plan={"A1": ["--exit", "1"]}, timeout=TIMEOUT)
        assert result.ret == 1, result.stdout.str()
    passed = project.run(agent=agent, timeout=TIMEOUT)
    assert passed.ret == 0, passed.stdout.str()
    again = project.run("--roadmap-redo", agent=agent, timeout=TIMEOUT)
    assert again.ret == 0, again.stdout.str()
    models = [model_arg(argv) for argv in (list(r["argv"]) for r in project.records("start"))]
    # failed on haiku, then sonnet, then opus; passed on opus; a passed task starts over
    assert models == ["haiku", "sonnet", "opus", "opus", "haiku"]


BAD_MODEL = "# B\n\n## Phase 1: P\n\n### Group A: G\n- **A1: One** - one\n  Model: the User table\n"


@pytest.mark.parametrize(
    ("args", "text", "error"),
    [
        (("--roadmap-model", "two words"), MODELS, "roadmap_model: invalid model 'two words'"),
        ((), BAD_MODEL, "ROADMAP.md:6: task A1: invalid model 'the User table'"),
    ],
)
def test_a_bad_model_is_one_clear_line(
    project: Project, args: tuple[str, ...], text: str, error: str
) -> None:
    project.roadmap(text)
    result = project.run(*args, timeout=TIMEOUT)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert error in result.stderr.str()
    assert not project.records()
