"""The HTML report a run writes: where, what it shows, kept current, across runs, pytest-html."""

from __future__ import annotations

import re
import shlex
import signal
import sys

import pytest

from .conftest import FAKE_AGENT
from .conftest import TWO_GROUPS
from .conftest import Project
from .test_reliability import INTERRUPTED_EXIT
from .test_reliability import Running
from .test_reliability import started_tasks
from .test_reliability import wait_for

TIMEOUT = 120
REPORT = "status/roadmap-report.html"


def steps(page: str, run: int | None = None) -> list[str]:
    """The step names of the page's bars (of one run)."""
    found = re.findall(r'<g class="bar [^"]*" data-step="([^"]+)" data-run="(\d+)"', page)
    return [name for name, number in found if run is None or int(number) == run]


def test_a_run_writes_the_report_with_a_bar_per_step(project: Project) -> None:
    project.roadmap()
    result = project.run("-n", "2", timeout=TIMEOUT)
    result.assert_outcomes(passed=9)
    page = (project.path / REPORT).read_text(encoding="utf-8")
    assert sorted(steps(page)) == sorted(
        ["A1", "A2", "B1", "C1", "gate 1·A", "gate 1·B", "gate 2·C", "commit 1", "commit 2"]
    )
    assert 'class="state finished"' in page and "refresh" not in page
    assert re.search(r">gw[01]</text>", page)
    assert "<h2>Resume</h2>" not in page
    # the log links are relative to the page: ../logs/orchestrator/...
    links = re.findall(r'<a href="([^"]+)">', page)
    assert links and all(link.startswith("../logs/orchestrator/") for link in links)
    assert all((project.path / "status" / link).exists() for link in links)
    assert "roadmap-report.html" not in project.pytester.run("git", "show", "--stat").stdout.str()


def test_the_report_is_current_while_the_run_goes_on(project: Project) -> None:
    """B1's agent waits until the page shows group A's gate, then keeps a copy of it."""
    project.roadmap()
    copy = (
        "for i in $(seq 600); do grep -q 'class=\"bar gate passed\"' "
        f"{REPORT} && break; sleep 0.1; done; cp {REPORT} mid-run.html"
    )
    fake = shlex.join([sys.executable, str(FAKE_AGENT)])
    agent = shlex.join(["sh", "-c", f'if [ "$ROADMAP_TASK_ID" = B1 ]; then {copy}; fi; {fake}'])
    result = project.run("-n", "2", "--roadmap-no-commit", agent=agent, timeout=TIMEOUT)
    result.assert_outcomes(passed=7, skipped=2)
    mid = (project.path / "mid-run.html").read_text(encoding="utf-8")
    assert 'class="state running"' in mid
    assert '<meta http-equiv="refresh" content="10">' in mid
    assert {"A1", "A2", "gate 1·A"} <= set(steps(mid))
    assert re.search(r'class="bar agent running" data-step="B1"', mid)
    assert "C1" not in steps(mid)


def test_report_path_option_and_none(project: Project) -> None:
    project.roadmap()
    result = project.run("--roadmap-report", "out/timeline.html", "--roadmap-no-commit")
    assert result.ret == 0
    assert (project.path / "out" / "timeline.html").exists()
    assert not (project.path / REPORT).exists()
    project.pytester.makeini("[pytest]\nroadmap_report = none\n")
    (project.path / "out" / "timeline.html").unlink()
    assert project.run("--roadmap-redo", "--roadmap-no-commit").ret == 0
    assert not (project.path / "out" / "timeline.html").exists()
    assert not (project.path / REPORT).exists()


def test_an_unwritable_report_path_is_one_line(project: Project) -> None:
    project.roadmap()
    (project.path / "taken").write_text("a file, not a directory\n")
    result = project.run("--roadmap-report", "taken/report.html", "--roadmap-no-commit")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: cannot write the report taken/report.html: *"])
    assert project.records() == []  # no agent ran


def test_a_resumed_roadmap_shows_the_earlier_run(project: Project) -> None:
    project.roadmap()
    first = project.run("--roadmap-no-commit", plan={"B1": ["--exit", "1"]}, timeout=TIMEOUT)
    assert first.ret == 1
    page = (project.path / REPORT).read_text(encoding="utf-8")
    assert "<h2>Failures</h2>" in page and "<h2>Resume</h2>" in page
    assert "<pre>pytest " in page and "--roadmap-no-commit</pre>" in page
    second = project.run("--roadmap-no-commit", timeout=TIMEOUT)
    assert second.ret == 0
    page = (project.path / REPORT).read_text(encoding="utf-8")
    assert steps(page, 1) == ["A1", "A2", "gate 1·A", "B1"]
    assert steps(page, 2) == ["B1", "gate 1·B", "C1", "gate 2·C"]
    assert ">run 1</text>" in page and ">run 2</text>" in page
    assert "<h2>Failures</h2>" not in page  # B1 passed in the latest run
    assert "with 1 earlier run" in page


def test_status_names_the_report(project: Project) -> None:
    project.roadmap(TWO_GROUPS)
    result = project.run("--roadmap-status")
    result.stdout.fnmatch_lines(["report: status/roadmap-report.html (not written yet)"])
    project.run("--roadmap-no-commit", timeout=TIMEOUT)
    project.run("--roadmap-status").stdout.fnmatch_lines(["report: status/roadmap-report.html"])


def test_pytest_html_gets_the_timeline_and_the_facts(project: Project) -> None:
    pytest.importorskip("pytest_html")
    project.roadmap()
    agent = project.agent("--stream-json")
    result = project.run("--roadmap-no-commit", "--html=out.html", agent=agent, timeout=TIMEOUT)
    assert result.ret == 0
    page = (project.path / "out.html").read_text(encoding="utf-8")
    assert "Roadmap timeline" in page and 'data-step="A1"' in page
    assert "<th>Roadmap</th>" in page and "2 turns" in page


def test_rewrites_slow_down_when_they_are_slow() -> None:
    """The page costs the controller at most 1 % of its time, whatever the roadmap's size."""
    from pytest_roadmap.report.html import pace

    assert pace([]) == pace([0.001]) == 3.0
    assert pace([0.2, 0.05, 0.3]) == pytest.approx(5.0)  # the quickest of the last ones


def test_an_interrupted_run_shows_what_was_running(project: Project) -> None:
    project.roadmap()
    run = Running(project, "-n", "2", "--roadmap-stagger", "0", plan={"A2": ["--sleep", "60"]})
    try:
        wait_for("A2 to start", lambda: "A2" in started_tasks(project))
        wait_for("the page to show A2", lambda: 'data-step="A2"' in _page(project))
        run.signal(signal.SIGINT)
        assert run.wait() == INTERRUPTED_EXIT
    finally:
        run.kill()
    page = _page(project)
    assert 'class="state finished failed"' in page and "refresh" not in page
    assert re.search(r'class="bar agent interrupted" data-step="A2"', page)
    assert "<h2>Resume</h2>" in page


def test_run_wide_waits_are_bands_across_the_lanes(project: Project) -> None:
    """The controller's usage-limit and memory waits (RoadmapRun.waits) reach the page."""
    project.roadmap()
    project.pytester.makeconftest(
        """
import time

from pytest_roadmap.context import run_key
from pytest_roadmap.segments import Segment


def pytest_runtest_logstart(nodeid):
    import pytest  # noqa
    if nodeid.endswith("::B1"):
        run = CONFIG.stash[run_key]
        now = time.time()
        run.waits.append(Segment("limit_wait", now - 0.02, now - 0.01, "five_hour limit"))
        run.waits.append(Segment("memory_wait", now - 0.01, now, "2 GiB free"))


def pytest_configure(config):
    global CONFIG
    CONFIG = config
"""
    )
    assert project.run("--roadmap-no-commit", timeout=TIMEOUT).ret == 0
    page = _page(project)
    assert '<g class="wait-band limit_wait"><title>usage-limit wait (all agents): five_hour' in page
    assert '<g class="wait-band memory_wait"><title>memory wait (all agents): 2 GiB' in page


def _page(project: Project) -> str:
    path = project.path / REPORT
    return path.read_text(encoding="utf-8") if path.exists() else ""
