"""The settings table: every setting declared once reaches the command line, the ini file,
the front matter and its environment variable, and every bad value is one line."""

from __future__ import annotations

import pytest

from pytest_roadmap.settings import parse
from pytest_roadmap.settings.declare import Setting
from pytest_roadmap.settings.table import SETTINGS
from tests.conftest import TWO_GROUPS
from tests.conftest import Project

#: parsers that take any text: nothing to refuse
FREE_TEXT = {parse.text, parse.path, parse.lines, parse.args, parse.services, parse.report}
CHECKED = [spec for spec in SETTINGS if spec.parse not in FREE_TEXT]
#: given on the command line by every Project.run, where it beats the ini file
ON_EVERY_RUN = {"roadmap_stagger"}


@pytest.mark.parametrize(
    "spec", [s for s in CHECKED if s.ini and s.name not in ON_EVERY_RUN], ids=lambda s: s.name
)
def test_bad_ini_value_is_one_line_and_runs_nothing(project: Project, spec: Setting) -> None:
    project.roadmap()
    project.pytester.makeini(f"[pytest]\n{spec.name} = bogus!\n")
    result = project.run()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    [line] = [line for line in result.stderr.lines if line.strip()]
    assert line.startswith("ERROR: invalid ")
    assert f"'bogus!' from {spec.name} in the ini file: " in line
    assert project.records() == []
    assert project.status("roadmap_tasks.txt") == []


@pytest.mark.parametrize(
    "spec", [s for s in CHECKED if s.cli == "value" and not s.choices], ids=lambda s: s.name
)
def test_bad_option_value_names_the_option(project: Project, spec: Setting) -> None:
    project.roadmap()
    result = project.run(f"{spec.flag}=bogus!")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: invalid * 'bogus!' from {spec.flag}: *"])


@pytest.mark.parametrize("spec", [s for s in CHECKED if s.env], ids=lambda s: s.name)
def test_bad_environment_value_names_the_variable(
    project: Project, spec: Setting, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.roadmap()
    monkeypatch.setenv(str(spec.env), "bogus!")
    result = project.run()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"ERROR: invalid * 'bogus!' from {spec.env} environment variable: *"]
    )


def test_front_matter_beats_the_ini_file_and_the_option_beats_both(project: Project) -> None:
    project.roadmap("---\nroadmap_retries: 'x'\n---\n" + TWO_GROUPS)
    project.pytester.makeini("[pytest]\nroadmap_retries = y\n")
    result = project.run()
    result.stderr.fnmatch_lines(["ERROR: invalid count 'x' from roadmap_retries in the roadmap's*"])
    result = project.run("--roadmap-retries", "z")
    result.stderr.fnmatch_lines(["ERROR: invalid count 'z' from --roadmap-retries: *"])


def test_help_shows_every_option_and_ini_setting(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    text = result.stdout.str()
    for spec in SETTINGS:
        if spec.flag:
            assert spec.flag in text
        if spec.ini:
            assert spec.name in text


def test_unknown_front_matter_key_names_the_known_ones(project: Project) -> None:
    project.roadmap("---\nroadmap_retrys: 3\n---\n" + TWO_GROUPS)
    result = project.run()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: *roadmap_retrys*roadmap_retries*"])
