"""The .env check: .env.example without .env stops the run; missing keys are named."""

from __future__ import annotations

import pytest

from tests.conftest import TWO_GROUPS
from tests.conftest import Project


def test_env_example_without_env_stops_the_run(project: Project) -> None:
    (project.path / ".env.example").write_text("DB_URL=postgres://localhost/app\n")
    project.roadmap()
    result = project.run()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert result.stderr.lines[0] == (
        "ERROR: .env.example is here but .env is not: cp .env.example .env and fill it in "
        "(or set roadmap_require_env = false)"
    )
    assert project.records() == []
    assert project.status("roadmap_tasks.txt") == []


def test_require_env_false_runs_without_env(project: Project) -> None:
    (project.path / ".env.sample").write_text("DB_URL=\n")
    project.roadmap("---\nroadmap_require_env: false\n---\n" + TWO_GROUPS)
    project.run().assert_outcomes(passed=9)


def test_env_missing_keys_are_named_not_their_values(project: Project) -> None:
    (project.path / ".env.example").write_text(
        "# settings\nDB_URL=postgres://example\nexport REDIS_URL=redis://example\nPORT=3000\n"
    )
    (project.path / ".env").write_text("PORT=8080\n")
    project.roadmap()
    result = project.run()
    result.assert_outcomes(passed=9)
    result.stdout.fnmatch_lines(
        ["*RoadmapWarning: .env lacks keys that .env.example has: DB_URL, REDIS_URL*"]
    )
    output = result.stdout.str() + result.stderr.str()
    for value in ("postgres://example", "redis://example", "3000", "8080"):
        assert value not in output


def test_bad_require_env_is_one_line(project: Project) -> None:
    project.roadmap()
    project.pytester.makeini("[pytest]\nroadmap_require_env = maybe\n")
    result = project.run()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: invalid value 'maybe' from roadmap_require_env in the ini file: use true or false"]
    )
