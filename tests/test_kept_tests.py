"""No agent may delete or skip a test that existed before its group (issue 28)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pytest_roadmap.workspace import project_tests
from pytest_roadmap.workspace.project_tests import Baseline

from .conftest import Project
from .conftest import git

ONE_GROUP = "## Phase 1: Solo\n\n### Group A: Only\n- **A1: One** - one\n- **A2: Two** - two\n"
BASE_TEST = "def test_base():\n    assert 1 + 1 == 2\n"
TEST_FILE = "tests/test_base.py"
#: red until fixed.txt exists, unless tests/test_base.py is gone or skipped (what a
#: test runner would do)
GATE = (
    "if [ -f tests/test_base.py ] && ! grep -q skip tests/test_base.py; "
    "then test -f fixed.txt || (echo test_base fails; exit 1); fi"
)
TOLD = (
    "you deleted tests/test_base.py, which existed before this group: "
    "restore it and fix the code instead"
)


def make(project: Project) -> Path:
    (project.path / "tests").mkdir()
    (project.path / TEST_FILE).write_text(BASE_TEST, encoding="utf-8")
    project.roadmap(ONE_GROUP)  # commits the test too
    return project.path / TEST_FILE


def gate_run(project: Project, plan: dict[str, list[str]], *args: str) -> pytest.RunResult:
    junit = project.path.parent / f"{project.path.name}-junit.xml"
    return project.run(
        "--roadmap-gate", GATE, "--roadmap-no-commit", f"--junitxml={junit}", *args, plan=plan
    )


def junit_properties(project: Project, name: str) -> dict[str, str]:
    junit = project.path.parent / f"{project.path.name}-junit.xml"
    for case in ET.parse(junit).getroot().iter("testcase"):
        if case.get("name") == name:
            return {p.get("name", ""): p.get("value", "") for p in case.iter("property")}
    raise AssertionError(f"no test case {name}")


def test_a_repair_agent_that_deletes_a_test_is_told_and_then_fixes_the_code(
    project: Project,
) -> None:
    test_file = make(project)
    plan = {
        "fix1": ["--stream-json", "--delete", TEST_FILE],
        "fix1+resume": [
            "--stream-json",
            "--write",
            f"{TEST_FILE}={BASE_TEST}",
            "--write",
            "fixed.txt",
        ],
    }
    result = gate_run(project, plan)
    result.assert_outcomes(passed=3, skipped=1)
    starts = project.records("start")
    assert [r["task"] for r in starts] == ["A1", "A2", "fix1", "fix1"]
    assert TOLD in starts[3]["prompt"]
    assert test_file.read_text(encoding="utf-8") == BASE_TEST
    assert (project.path / "fixed.txt").exists()


def test_a_repair_agent_that_persists_in_deleting_fails_the_gate_and_the_file_is_restored(
    project: Project,
) -> None:
    test_file = make(project)
    result = gate_run(project, {"fix1": ["--delete", TEST_FILE]})
    result.assert_outcomes(passed=2, failed=1, skipped=1)
    assert result.ret != 0
    result.stdout.fnmatch_lines(
        [
            "*Phase 1 Group A gate failed: the repair agent deleted tests/test_base.py, which "
            "existed before this group, and did so again when told: restored"
        ]
    )
    assert [r["task"] for r in project.records("start")] == ["A1", "A2", "fix1", "fix1"]
    assert TOLD in project.records("start")[3]["prompt"]
    assert test_file.read_text(encoding="utf-8") == BASE_TEST
    assert "Group A gate passed" not in result.stdout.str()


def test_a_skip_added_to_an_existing_test_is_refused_the_same_way(project: Project) -> None:
    test_file = make(project)
    skip = f"{TEST_FILE}|def test_base|import pytest\n@pytest.mark.skip\ndef test_base"
    result = gate_run(project, {"fix1": ["--replace", skip]})
    result.assert_outcomes(passed=2, failed=1, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "*Phase 1 Group A gate failed: the repair agent added a skip (@pytest.mark.skip) to "
            "tests/test_base.py, which existed before this group, and did so again when told: "
            "restored"
        ]
    )
    told = project.records("start")[3]["prompt"]
    assert "you added a skip (@pytest.mark.skip) to tests/test_base.py" in told
    assert test_file.read_text(encoding="utf-8") == BASE_TEST


def test_a_task_agent_that_deletes_a_test_gets_the_same_treatment(project: Project) -> None:
    test_file = make(project)
    result = gate_run(project, {"A1": ["--delete", TEST_FILE]}, "--roadmap-fix-attempts", "0")
    result.assert_outcomes(passed=1, failed=1, skipped=2)
    result.stdout.fnmatch_lines(
        ["*A1 failed*: A1's agent deleted tests/test_base.py, which existed before this group*"]
    )
    assert [r["task"] for r in project.records("start")] == ["A1", "A1", "A2"]
    assert test_file.read_text(encoding="utf-8") == BASE_TEST


def test_a_changed_existing_test_is_allowed_and_reported(project: Project) -> None:
    test_file = make(project)
    change = f"{TEST_FILE}|1 + 1 == 2|2 + 2 == 4"
    report = project.path / "report.html"
    result = gate_run(
        project,
        {"A2": ["--replace", change], "A1": ["--write", "fixed.txt"]},
        "-o",
        f"roadmap_report={report}",
    )
    result.assert_outcomes(passed=3, skipped=1)
    result.stdout.fnmatch_lines(["A2 changed 1 existing test: tests/test_base.py"])
    assert junit_properties(project, "A2")["tests_changed"] == TEST_FILE
    assert "tests_changed" not in junit_properties(project, "A1")
    assert "2 + 2 == 4" in test_file.read_text(encoding="utf-8")
    assert "tests changed: tests/test_base.py" in report.read_text(encoding="utf-8")


def test_the_repair_prompt_lists_the_changed_tests(project: Project) -> None:
    make(project)
    change = f"{TEST_FILE}|1 + 1 == 2|2 + 2 == 4"
    result = gate_run(project, {"A1": ["--replace", change], "fix1": ["--write", "fixed.txt"]})
    result.assert_outcomes(passed=3, skipped=1)
    prompt = project.records("start")[2]["prompt"]
    assert f"still test what they tested):\n- {TEST_FILE}\n" in prompt


def test_a_new_test_of_the_group_may_be_changed_by_a_later_agent(project: Project) -> None:
    make(project)
    plan = {
        "A1": ["--write", "tests/test_new.py=def test_new():\n    pass\n", "--write", "fixed.txt"],
        "A2": ["--replace", "tests/test_new.py|pass|import pytest; pytest.skip('later')"],
    }
    result = gate_run(project, plan)
    result.assert_outcomes(passed=3, skipped=1)
    assert [r["task"] for r in project.records("start")] == ["A1", "A2"]
    assert "pytest.skip" in (project.path / "tests/test_new.py").read_text(encoding="utf-8")
    assert "changed 1 existing test" not in result.stdout.str()


def test_the_user_may_allow_test_removal(project: Project) -> None:
    test_file = make(project)
    result = gate_run(
        project, {"fix1": ["--delete", TEST_FILE]}, "-o", "roadmap_allow_test_removal=true"
    )
    result.assert_outcomes(passed=3, skipped=1)
    result.stdout.fnmatch_lines(
        ["*gate: warning: the repair agent deleted tests/test_base.py, which existed before "
         "this group (allowed)"]
    )  # fmt: skip
    assert not test_file.exists()
    assert [r["task"] for r in project.records("start")] == ["A1", "A2", "fix1"]


def test_conventions_and_test_paths(tmp_path: Path) -> None:
    for path in ("test/a.js", "src/x.test.ts", "pkg/y_test.go", "z/test_q.py", "e2e/k.py"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("x\n")
    (tmp_path / "src" / "main.js").write_text("x\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "x")
    found = project_tests.record_baseline(tmp_path, 1, "A", ())
    assert found is not None
    assert sorted(found.files) == ["pkg/y_test.go", "src/x.test.ts", "test/a.js", "z/test_q.py"]
    added = project_tests.record_baseline(tmp_path, 1, "B", ("e2e/",))
    assert added is not None and "e2e/k.py" in added.files
    only = project_tests.record_baseline(tmp_path, 1, "C", ("replace", "e2e/"))
    assert only is not None and sorted(only.files) == ["e2e/k.py"]


@pytest.mark.parametrize(
    ("path", "before", "after", "skip"),
    [
        ("a.test.js", "it('x', f)\n", "it.skip('x', f)\n", ".skip("),
        ("a.test.js", "it('x', f)\n", "xit('x', f)\n", "xit("),
        ("a.test.js", "describe('x', f)\n", "describe.only('x', f)\n", "describe.only("),
        ("a_test.go", "func TestA(t *T) {\n", "func TestA(t *T) { t.Skip()\n", "t.Skip("),
        ("test_a.py", "def t(): 1\n", "@unittest.skip('no')\ndef t(): 1\n", "@unittest.skip"),
        ("test_a.py", "def test_a(): pass\n", "def test_a(): pytest.skip()\n", "pytest.skip("),
        ("test_a.py", "def test_a(): pass\n", "def test_a(): assert True\n", None),
    ],
)  # fmt: skip
def test_skips_per_language(
    tmp_path: Path, path: str, before: str, after: str, skip: str | None
) -> None:
    (tmp_path / path).write_text(before)
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "x")
    baseline = project_tests.record_baseline(tmp_path, 1, "A", ())
    assert isinstance(baseline, Baseline) and path in baseline.files
    start = project_tests.state(tmp_path, baseline)
    (tmp_path / path).write_text(after)
    found = project_tests.changes(
        tmp_path, baseline, start, project_tests.state(tmp_path, baseline)
    )
    assert found.skipped == ([(path, skip)] if skip else [])
    assert found.changed == ([] if skip else [path])


def test_test_paths_from_front_matter_add_patterns(project: Project) -> None:
    (project.path / "checks").mkdir()
    (project.path / "checks" / "smoke.sh").write_text("true\n", encoding="utf-8")
    project.roadmap("---\nroadmap_test_paths: checks/\n---\n" + ONE_GROUP)
    plan = {"fix1": ["--delete", "checks/smoke.sh"]}
    result = project.run("--roadmap-gate", "test -f fixed.txt", "--roadmap-no-commit", plan=plan)
    result.assert_outcomes(passed=2, failed=1, skipped=1)
    result.stdout.fnmatch_lines(["*the repair agent deleted checks/smoke.sh, which existed*"])
    assert (project.path / "checks" / "smoke.sh").exists()
