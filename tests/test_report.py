"""What users see: the end-of-run summary, --roadmap-status, JUnit XML, STATUS files, plain text."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pytest_roadmap.model.plan import task_digest
from pytest_roadmap.model.records import TaskRecord
from pytest_roadmap.model.roadmap import parse_roadmap
from pytest_roadmap.report.status import render_status
from pytest_roadmap.report.summary import reason_heading
from pytest_roadmap.report.summary import wrap_names
from pytest_roadmap.settings import resume_command
from pytest_roadmap.text import fit
from pytest_roadmap.text import seconds

from .conftest import TWO_GROUPS
from .conftest import Project
from .conftest import git

TIMEOUT = 120
SECRET = "sk-secret-0123456789abcdef"
MODES = [pytest.param((), id="serial"), pytest.param(("-n", "2"), id="xdist")]

#: Group A passes through a two-command gate; group B has a failing and a hanging task.
GATED = """\
## Phase 1: Build

### Group A: Base
- **A1: First** - do a1

### Group B: Next
- **B1: Broken** - do b1
- **B2: Slow** - do b2
"""


def summary(result: pytest.RunResult) -> list[str]:
    """The lines of the "roadmap summary" section."""
    lines = result.outlines
    start = next(i for i, line in enumerate(lines) if "roadmap summary" in line)
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("="))
    return lines[start + 1 : end]


def files(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` but pytester's own, with mtime and size."""
    found = {}
    for path in root.rglob("*"):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and not rel.startswith(("stdout", "stderr", "runpytest-")):
            stat = path.stat()
            found[rel] = (stat.st_mtime_ns, stat.st_size)
    return found


# -- the end-of-run summary ------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_summary_after_a_failure(project: Project, mode: tuple[str, ...]) -> None:
    project.roadmap()
    result = project.run(
        *mode,
        "--roadmap-redo",
        agent=project.agent("--stream-json"),
        plan={"B1": ["--exit", "3"]},
        timeout=TIMEOUT,
    )
    result.assert_outcomes(passed=3, failed=1, skipped=5)
    lines = summary(result)
    assert all(len(line) <= 120 for line in lines), [line for line in lines if len(line) > 120]
    result.stdout.fnmatch_lines(
        [
            "*= roadmap summary =*",
            "group * item * outcome * time * turns * cost USD",
            "Phase 1 · Group A  A1 First task  * passed  * *.?s  * 2  * $0.0123",
            "Phase 1 · Group A  A2 Second task * passed  *",
            "Phase 1 · Group A  gate  * passed*",
            "* Group A total: tasks 2 passed, 0 failed, 0 skipped; cost $0.0246; agent time *s",
            "Phase 1 · Group B  B1 Third task  * failed: agent exited with code 3*$0.0123",
            "* log: logs/orchestrator/phase1_groupB_B1_*.log",
            "Phase 1 · Group B  gate  * skipped: tasks failed: B1",
            "Phase 1  * commit  * skipped: blocked: Phase 1 Group B task B1 failed",
            "Phase 2 · Group C  C1 Last task * skipped: blocked: Phase 1 Group B task B1 failed",
            "skipped, by reason:",
            "  blocked (Phase 1 Group B task B1 failed): commit 1, C1, gate 2·C, commit 2",
            "  tasks failed (B1): gate 1·B",
            "run total: tasks 2 passed, 1 failed, 1 skipped; cost $0.0369; agent time *s",
            "resume with:",
            "pytest --basetemp=* \\",
        ]
    )
    resume = "\n".join(lines[lines.index("resume with:") + 1 :])
    assert "--roadmap-redo" not in resume
    assert " ".join(mode) in resume.replace("\\\n", "")


def test_quiet_summary_has_totals_and_resume_only(project: Project) -> None:
    project.roadmap()
    result = project.run("-q", plan={"A2": ["--exit", "1"]}, timeout=TIMEOUT)
    lines = summary(result)
    assert lines[0].startswith("run total: tasks 1 passed, 1 failed, 2 skipped;"), lines
    assert lines[1] == "resume with:"
    assert lines[2].startswith("pytest --basetemp=")  # pytester's; then the test's own
    command = " ".join(line.rstrip("\\").strip() for line in lines[2:4])  # wrapped with \\
    assert "--roadmap ROADMAP.md" in command
    assert not [line for line in lines if line.startswith("Phase")]


def test_summary_of_a_resumed_run_lists_what_was_skipped(project: Project) -> None:
    project.roadmap(TWO_GROUPS.replace("- **B1: Third task**", "- [x] B1: Third task"))
    project.run("--roadmap-no-commit", plan={"A2": ["--exit", "1"]}, timeout=TIMEOUT)
    result = project.run("--roadmap-no-commit", timeout=TIMEOUT)
    result.assert_outcomes(passed=4, skipped=5)  # group B is done in ROADMAP.md: no gate
    lines = summary(result)
    assert "  done in ROADMAP.md: B1" in lines
    assert "  passed in an earlier run: A1" in lines
    assert "  commit turned off by --roadmap-no-commit: commit 1, commit 2" in lines
    assert "resume with:" not in lines
    assert "run total: tasks 2 passed, 0 failed, 2 skipped; cost $0.0000; agent time" in "\n".join(
        lines
    )
    # the next run: everything recorded complete
    lines = summary(project.run("--roadmap-no-commit", timeout=TIMEOUT))
    assert (
        "  already complete (status/completed_tasks.txt): A1, A2, gate 1·A, gate 1·B, C1, gate 2·C"
        in lines
    )


@pytest.mark.parametrize("mode", MODES)
def test_summary_names_what_was_not_selected(project: Project, mode: tuple[str, ...]) -> None:
    project.roadmap()
    result = project.run(*mode, "-k", "phase1 and groupB", timeout=TIMEOUT)
    result.assert_outcomes(passed=2)
    lines = summary(result)
    rows = [line for line in lines if line.startswith("Phase")]
    assert [row.split("  ")[1] for row in rows] == ["B1 Third task", "gate"]
    assert (
        "  not selected (-k, -m or --deselect): A1, A2, gate 1·A, commit 1, C1, gate 2·C, commit 2"
        in lines
    )
    assert "resume with:" not in lines


def test_summary_of_a_dry_run(project: Project) -> None:
    project.roadmap()
    result = project.run("--roadmap-dry-run", timeout=TIMEOUT)
    result.assert_outcomes(passed=9)
    lines = summary(result)
    assert "run total: tasks 4 passed, 0 failed, 0 skipped; cost $0.0000; agent time 0.0s" in lines
    assert "resume with:" not in lines


def test_no_summary_for_collect_only(project: Project) -> None:
    project.roadmap()
    result = project.run("--collect-only", timeout=TIMEOUT)
    assert "roadmap summary" not in result.stdout.str()


@pytest.mark.parametrize("mode", MODES)
def test_plain_text_without_a_tty(
    project: Project, monkeypatch: pytest.MonkeyPatch, mode: tuple[str, ...]
) -> None:
    for name in ("PY_COLORS", "FORCE_COLOR", "NO_COLOR", "TERM"):
        monkeypatch.delenv(name, raising=False)
    project.roadmap()
    result = project.run(*mode, plan={"B1": ["--exit", "2"]}, timeout=TIMEOUT)
    result.assert_outcomes(passed=3, failed=1, skipped=5)
    raw = (project.path / "stdout").read_bytes()
    assert b"roadmap summary" in raw
    assert b"\x1b" not in raw
    assert b"\r" not in raw


# -- --roadmap-status ------------------------------------------------------------------


def test_status_prints_progress_and_changes_nothing(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.roadmap(
        TWO_GROUPS + "\n### Group D: Later\n- [x] D1: Done already\n- **D2: Open** - d2\n"
    )
    agent = project.agent("--stream-json")
    project.run(agent=agent, plan={"B1": ["--exit", "1"]}, timeout=TIMEOUT)
    git(project.path, "add", "-A")
    git(project.path, "commit", "-q", "-m", "after the run")
    before = files(project.path)
    monkeypatch.setenv("CLAUDE_BIN", str(project.path / "no-such-claude"))  # never needed
    result = project.pytester.runpytest_subprocess(
        "--roadmap", "ROADMAP.md", "--roadmap-status", "-n", "2", timeout=TIMEOUT
    )
    assert result.ret == 0
    assert files(project.path) == before
    assert git(project.path, "status", "--porcelain") == ""
    out = result.stdout.str()
    assert "test session starts" not in out and "gw0" not in out
    result.stdout.fnmatch_lines(
        [
            "*= roadmap status: ROADMAP.md =*",
            "Phase 1: Foundation — pending",
            "  Group A: Base — complete (status/completed_tasks.txt)",
            "    A1    First task  * passed  * *s    2 turns   $0.0123  20??-??-?? ??:??",
            "    A2    Second task * passed  *",
            "  Group B — in progress: 0 of 1 tasks done, 1 failed earlier",
            "    B1    Third task  * failed earlier  *$0.0123*",
            "Phase 2: More — pending",
            "  Group C: End — pending",
            "    C1    Last task  * pending",
            "  Group D: Later — in progress: 1 of 2 tasks done",
            "    D1    Done already  * done in ROADMAP.md",
            "    D2    Open  * pending",
            "tasks: 3 of 6 done — 1 done in ROADMAP.md, 2 passed, 1 failed earlier, 2 pending",
            "groups complete: 1 of 4; phases complete: 0 of 2; recorded cost $0.0369, agent time *",
        ]
    )


def test_status_shows_phase_commits(project: Project) -> None:
    project.roadmap()
    project.run(timeout=TIMEOUT).assert_outcomes(passed=9)
    sha = git(project.path, "log", "-1", "--skip=1", "--format=%h").strip()
    result = project.run("--roadmap-status", "--roadmap-phases", "1", timeout=TIMEOUT)
    assert result.ret == 0
    result.stdout.fnmatch_lines([f"Phase 1: Foundation — complete, committed {sha}"])
    assert "Phase 2" not in result.stdout.str()


def test_status_reports_roadmap_errors(project: Project) -> None:
    project.roadmap("## Phase 1: X\n### Group A: Y\n- **A1: Z**\n- **A1: again**\n")
    result = project.run("--roadmap-status", timeout=TIMEOUT)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: ROADMAP.md:4: duplicate task id A1*"])


def test_render_status_states() -> None:
    roadmap = parse_roadmap(
        "## Phase 1: P\n### Group A: G\n- **A1: One** - x\n- **A2: Two** - y\n"
        "### Group B: H\n- **B1: Three** - z\n",
        "ROADMAP.md",
    )
    a1, _ = roadmap.phases[0].groups[0].tasks
    records = {
        "PHASE_1:A:A1": TaskRecord(outcome="passed", digest=task_digest(a1), cost_usd=0.5),
        "PHASE_1:A:A2": TaskRecord(outcome="passed", digest="stale", cost_usd=0.25),
    }
    lines = render_status(roadmap, {"PHASE_1:B": "PHASE1-GROUP-B-STATUS.md"}, records, {1: "abc"})
    assert lines[0] == "Phase 1: P — pending, committed abc"
    assert lines[1] == "  Group A: G — in progress: 1 of 2 tasks done"
    assert re.match(r"    A1 +One +passed +\$0\.5000$", lines[2]), lines[2]
    assert "pending (text changed since it passed)" in lines[3]
    assert lines[4] == "  Group B: H — complete (PHASE1-GROUP-B-STATUS.md)"
    assert "complete (group)" in lines[5]
    assert lines[-2].startswith("tasks: 2 of 3 done — 1 passed, 1 complete (group), 1 pending (")
    assert lines[-1].endswith("recorded cost $0.7500, agent time 0.0s")


# -- JUnit XML, STATUS files and secrets ------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_junit_xml_classnames_properties_and_failures(
    project: Project, monkeypatch: pytest.MonkeyPatch, mode: tuple[str, ...]
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    project.roadmap(GATED)
    xml = project.path.parent / f"{project.path.name}-junit.xml"
    result = project.run(
        *mode,
        f"--junitxml={xml}",
        "--roadmap-task-timeout",
        "1",
        "--roadmap-gate",
        "true",
        "--roadmap-gate",
        "echo gate-ok",
        agent=project.agent("--stream-json"),
        plan={"B1": ["--exit", "3"], "B2": ["--hang"]},
        timeout=TIMEOUT,
    )
    result.assert_outcomes(passed=2, failed=2, skipped=2)
    cases = {
        (case.get("classname"), case.get("name")): case
        for case in ET.parse(xml).getroot().iter("testcase")
    }
    assert sorted(cases) == [
        ("ROADMAP.md.phase1", "commit"),
        ("ROADMAP.md.phase1.groupA", "A1"),
        ("ROADMAP.md.phase1.groupA", "gate"),
        ("ROADMAP.md.phase1.groupB", "B1"),
        ("ROADMAP.md.phase1.groupB", "B2"),
        ("ROADMAP.md.phase1.groupB", "gate"),
    ]

    def props(key: tuple[str, str]) -> dict[str, str]:
        return {p.get("name", ""): p.get("value", "") for p in cases[key].iter("property")}

    a1 = props(("ROADMAP.md.phase1.groupA", "A1"))
    assert re.fullmatch(r"logs/orchestrator/phase1_groupA_A1_\d+\.log", a1["log"])
    assert a1["exit_code"] == "0" and float(a1["duration_s"]) > 0
    assert (a1["cost_usd"], a1["num_turns"], a1["session_id"]) == ("0.0123", "2", "fake-session-A1")
    gate = props(("ROADMAP.md.phase1.groupA", "gate"))
    assert gate["gate_command_1"] == "true" and gate["gate_exit_1"] == "0"
    assert gate["gate_command_2"] == "echo gate-ok" and gate["gate_exit_2"] == "0"
    assert float(gate["gate_duration_2"]) >= 0
    assert props(("ROADMAP.md.phase1.groupB", "B1"))["exit_code"] == "3"

    def failure(name: str) -> str:
        found = cases[("ROADMAP.md.phase1.groupB", name)].find("failure")
        assert found is not None
        return found.get("message", "").splitlines()[0]

    assert failure("B1").startswith("agent exited with code 3")
    assert failure("B2") == "Task B2 timed out after 1s"

    leaked = [xml, *project.path.glob("PHASE*-STATUS.md"), *(project.path / "status").iterdir()]
    for path in leaked:
        assert SECRET not in path.read_text(encoding="utf-8"), path
    for log in (project.path / "logs" / "orchestrator").glob("*.log"):
        headers = [line for line in log.read_text().splitlines() if line.startswith("===")]
        assert headers and not [line for line in headers if SECRET in line], log
    assert SECRET not in result.stdout.str() + result.stderr.str()


def test_status_markdown_has_tasks_gate_and_summaries(project: Project) -> None:
    project.roadmap(GATED)
    project.run(
        "--roadmap-gate",
        "echo gate-ok",
        "--roadmap-gate",
        "true",
        "-k",
        "groupA",
        agent=project.agent("--stream-json"),
        timeout=TIMEOUT,
    ).assert_outcomes(passed=2)
    text = (project.path / "PHASE1-GROUP-A-STATUS.md").read_text(encoding="utf-8")
    row = re.search(r"^\| A1 \| First \| passed \| (\S+)s \| 2 \| 0\.0123 \| (\S+) \|$", text, re.M)
    assert row is not None, text
    assert row.group(2).startswith("logs/orchestrator/phase1_groupA_A1_")
    assert "Total cost: $0.0123" in text and "Total agent time: " in text
    assert re.search(r"^\| `echo gate-ok` \| 0 \| \d+\.\ds \|$", text, re.M), text
    assert re.search(r"^\| `true` \| 0 \| \d+\.\ds \|$", text, re.M), text
    assert "### A1: First\n\nDone: A1" in text


# -- pure helpers -----------------------------------------------------------------------


def test_resume_command_is_quoted_and_wrapped() -> None:
    args = ["--roadmap", "ROADMAP.md", "--roadmap-redo", "-k", "phase1 and groupB", "-n", "2"]
    assert resume_command(args) == ["pytest --roadmap ROADMAP.md -k 'phase1 and groupB' -n 2"]
    long = ["--roadmap", "ROADMAP.md", "--roadmap-agent-command", "x" * 150, "-n", "2"]
    lines = resume_command(long)
    assert lines == [
        "pytest --roadmap ROADMAP.md --roadmap-agent-command \\",
        "  " + "x" * 150 + " \\",
        "  -n 2",
    ]


def test_small_formatters() -> None:
    assert fit("abcdef", 4) == "abc…" and fit("a\nb", 9) == "a b"
    assert [seconds(s) for s in (4.21, 185, 3720)] == ["4.2s", "3m05s", "1h02m"]
    assert reason_heading("blocked: X failed") == "blocked (X failed)"
    assert reason_heading("done in ROADMAP.md") == "done in ROADMAP.md"
    names = [f"T{i}" for i in range(200)]
    lines = wrap_names("  why: ", names, 40, max_lines=3)
    assert len(lines) == 3 and all(len(line) <= 40 for line in lines)
    assert lines[-1].endswith("… and 181 more"), lines
    assert wrap_names("  x: ", ["a", "b"], 40) == ["  x: a, b"]


def test_status_counts_groups_the_history_completed(project: Project) -> None:
    project.roadmap()
    (project.path / "a.txt").write_text("by hand\n")
    git(project.path, "add", "-A")
    git(project.path, "commit", "-q", "-m", "Phase 1 Group A")
    sha = git(project.path, "log", "-1", "--format=%h").strip()
    result = project.run("--roadmap-status", timeout=TIMEOUT)
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            f"  Group A: Base — complete (commit {sha} 'Phase 1 Group A')",
            "    A1 * complete (group)",
        ]
    )


def test_call_reports_carry_the_timeline_spans_across_xdist(project: Project) -> None:
    """Each task's call report has its agent attempts as spans; under
    xdist they reach the controller's hooks as an attribute of the report."""
    project.roadmap()
    project.pytester.makeconftest(
        """
import json
from pytest_roadmap.segments import of_report

def pytest_runtest_logreport(report):
    if report.when == "call" and hasattr(report, "node"):  # the controller's copy
        spans = [[s.kind, s.note, s.end >= s.start] for s in of_report(report)]
        with open("spans.jsonl", "a") as f:
            f.write(json.dumps([report.nodeid, spans]) + "\\n")
"""
    )
    counter = project.path.parent / "b1-counter"
    plan = {"B1": ["--fail-first", "1", "--counter", str(counter)]}
    result = project.run("-n", "2", "--roadmap-no-gates", "--roadmap-no-commit", plan=plan)
    assert result.ret == 1, result.stdout.str()  # B1 failed once, not transient: not retried
    rows = [json.loads(line) for line in (project.path / "spans.jsonl").read_text().splitlines()]
    by_id = {nodeid.split("::", 1)[1]: spans for nodeid, spans in rows}
    assert by_id["phase1::groupA::A1"] == [["agent", "passed", True]]
    assert by_id["phase1::groupA::A2"] == [["agent", "passed", True]]
    [[kind, note, ordered]] = by_id["phase1::groupB::B1"]
    assert (kind, ordered) == ("agent", True)
    assert note.startswith("agent exited with code 1"), note
