"""The machine under the run: resource lines, each task's peak memory, --roadmap-memfree."""

from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET

import pytest

from pytest_roadmap.resources import MemoryGuard
from pytest_roadmap.resources import Monitor
from pytest_roadmap.resources import parse_size

from .conftest import Project

TIMEOUT = 120

THREE = """\
# Memory

## Phase 1: Work

### Group A: Three
- **A1: One** - one
- **A2: Two** - two
- **A3: Three** - three
"""


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("512M", 512 * 2**20),
        ("2G", 2 * 2**30),
        ("1.5g", int(1.5 * 2**30)),
        ("100", 100),
        ("64KiB", 64 * 2**10),
        ("0", 0),
    ],
)
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "2X", "lots", "-1G", "1G2"])
def test_not_sizes(text: str) -> None:
    with pytest.raises(ValueError, match=re.escape(text) or None):
        parse_size(text)


def test_the_guard_admits_one_agent_whatever_the_memory() -> None:
    guard = MemoryGuard(2**30, available=lambda: 2**20)
    assert guard.admits(0) == (True, 2**20)
    assert guard.admits(1) == (False, 2**20)
    assert MemoryGuard(2**20, available=lambda: 2**30).admits(3) == (True, 2**30)


def test_the_monitor_keeps_the_worst_of_each_number() -> None:
    monitor = Monitor()
    first = monitor.sample()
    assert 0 <= first.cpu_percent <= 100 and first.available > 0 and first.agents_rss >= 0
    monitor.sample()
    worst = monitor.take_worst()
    assert worst is not None and worst.available <= first.available
    assert monitor.take_worst() is None
    assert re.fullmatch(r"cpu \d+%, [\d.]+ [GM]B available, agents [\d.]+ [GM]B", first.text())


def spans(project: Project) -> list[tuple[float, float]]:
    ends = {r["task"]: r["end"] for r in project.records("end")}
    return sorted((r["start"], ends[r["task"]]) for r in project.records("start"))


def overlaps(intervals: list[tuple[float, float]]) -> bool:
    return any(later[0] < earlier[1] for earlier, later in itertools.pairwise(intervals))


def test_memfree_beyond_the_machine_runs_one_agent_at_a_time(project: Project) -> None:
    project.roadmap(THREE)
    result = project.run(
        "-n",
        "3",
        "--roadmap-memfree",
        "100T",
        agent=project.agent("--stream-json", "--sleep", "1"),
        timeout=TIMEOUT,
    )
    out = result.stdout.str()
    assert result.ret == 0, out
    assert len(spans(project)) == 3 and not overlaps(spans(project)), spans(project)
    assert re.search(
        r"memory: [\d.]+ [GM]B available, under --roadmap-memfree 102400\.0 GB: "
        r"A\d starts when there is room or no agent runs",
        out,
    ), out


def test_a_small_memfree_changes_nothing(project: Project) -> None:
    project.roadmap(THREE)
    result = project.run(
        "-n",
        "3",
        "--roadmap-memfree",
        "1M",
        agent=project.agent("--stream-json", "--sleep", "2"),
        timeout=TIMEOUT,
    )
    assert result.ret == 0, result.stdout.str()
    assert overlaps(spans(project)), spans(project)
    assert "roadmap-memfree" not in result.stdout.str()


def test_a_bad_memfree_is_one_line(project: Project) -> None:
    project.roadmap(THREE)
    result = project.run("--roadmap-memfree", "lots", timeout=TIMEOUT)
    assert result.ret == 4
    assert (
        "ERROR: invalid memory size 'lots' from --roadmap-memfree: give e.g. 512M or 2G"
        in result.stderr.str()
    )
    assert not project.records()


def test_peak_memory_of_each_task_and_the_machine_per_group(project: Project) -> None:
    project.roadmap(THREE)
    xml = project.path.parent / f"{project.path.name}-junit.xml"
    result = project.run(
        "-n",
        "2",
        f"--junitxml={xml}",
        agent=project.agent("--stream-json", "--sleep", "1.5"),
        plan={"A1": ["--allocate", "200"]},
        timeout=TIMEOUT,
    )
    out = result.stdout.str()
    assert result.ret == 0, out
    peaks = {
        case.get("name"): float(p.get("value", "0"))
        for case in ET.parse(xml).getroot().iter("testcase")
        for p in case.iter("property")
        if p.get("name") == "peak_rss_mb"
    }
    assert set(peaks) == {"A1", "A2", "A3"}, peaks
    assert 200 <= peaks["A1"] < 300, peaks
    assert peaks["A2"] < 100 and peaks["A3"] < 100, peaks
    assert re.search(r"A1 One  +passed +2\d\d +\d", out), out
    assert re.search(
        r"Phase 1 Group A gate machine: cpu up to \d+%, [\d.]+ [GM]B available at least, "
        r"agents up to [\d.]+ [GM]B",
        out,
    ), out
