"""Services (docker compose) before the first agent, with a fake docker on PATH."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_roadmap.control.services import compose_file
from pytest_roadmap.control.services import service_names
from tests.conftest import Project
from tests.conftest import git
from tests.conftest import path_without

COMPOSE = """\
services:
  db:
    image: postgres:16
  redis:
    image: redis:7
"""

#: Records each call as a JSON line {"program", "argv", "time"}; FAKE_DOCKER_FAIL makes
#: ``compose up`` fail as without a daemon, FAKE_DOCKER_NO_PLUGIN makes ``compose`` unknown.
FAKE_DOCKER = """\
import json, os, sys, time
program = os.path.basename(sys.argv[0])
with open(os.environ["FAKE_DOCKER_RECORD"], "a") as out:
    out.write(json.dumps({"program": program, "argv": sys.argv[1:], "time": time.time()}) + "\\n")
args = sys.argv[1:]
if program == "docker" and args[:1] == ["compose"]:
    if os.environ.get("FAKE_DOCKER_NO_PLUGIN"):
        print("docker: unknown command: docker compose", file=sys.stderr)
        sys.exit(1)
    args = args[1:]
if args[:1] == ["version"]:
    print("Docker Compose version v2.0.0-fake")
elif args[:1] == ["up"] and os.environ.get("FAKE_DOCKER_FAIL"):
    print("pulling db ... done")
    print("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
          "Is the docker daemon running?", file=sys.stderr)
    sys.exit(1)
elif args[:1] == ["up"]:
    print("Container db  Healthy")
"""


@pytest.fixture
def docker(
    project: Project, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A fake ``docker`` (and ``docker-compose``) first on a PATH without the real one;
    returns the file its calls are recorded in."""
    folder = tmp_path_factory.mktemp("fake-docker")
    for name in ("docker", "docker-compose"):
        script = folder / name
        script.write_text(f"#!{sys.executable}\n{FAKE_DOCKER}", encoding="utf-8")
        script.chmod(0o755)
    record = folder / "calls.jsonl"
    monkeypatch.setenv("FAKE_DOCKER_RECORD", str(record))
    path = path_without(tmp_path_factory, "docker", "docker-compose")
    monkeypatch.setenv("PATH", os.pathsep.join([str(folder), path]))
    return record


def calls(record: Path) -> list[dict[str, Any]]:
    if not record.exists():
        return []
    return [json.loads(line) for line in record.read_text().splitlines() if line]


def ups(record: Path) -> list[dict[str, Any]]:
    return [call for call in calls(record) if "up" in call["argv"]]


def with_compose(project: Project, name: str = "compose.yaml") -> None:
    (project.path / name).write_text(COMPOSE, encoding="utf-8")
    project.roadmap()


def test_services_come_up_before_the_first_agent(project: Project, docker: Path) -> None:
    with_compose(project)
    result = project.run("-n", "2")
    result.assert_outcomes(passed=9)
    (up,) = ups(docker)
    assert (up["program"], up["argv"]) == ("docker", ["compose", "up", "-d", "--wait"])
    starts = [r["start"] for r in project.records("start")]
    assert len(starts) == 4 and up["time"] < min(starts)
    logs = [name for name in project.logs() if name.startswith("services_")]
    assert len(logs) == 1
    log = (project.path / "logs" / "orchestrator" / logs[0]).read_text()
    assert "Container db  Healthy" in log
    result.stdout.fnmatch_lines(["[[]roadmap[]] services: docker compose up -d --wait (log: *)"])
    assert result.stdout.str().count("services left running: 'docker compose down'") == 1


def test_docker_compose_binary_when_the_plugin_is_missing(
    project: Project, docker: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_compose(project, "docker-compose.yml")
    monkeypatch.setenv("FAKE_DOCKER_NO_PLUGIN", "1")
    project.run().assert_outcomes(passed=9)
    (up,) = ups(docker)
    assert (up["program"], up["argv"]) == ("docker-compose", ["up", "-d", "--wait"])


def test_services_none_calls_nothing(project: Project, docker: Path) -> None:
    with_compose(project)
    project.pytester.makeini("[pytest]\nroadmap_services = none\n")
    git(project.path, "add", "-A")
    git(project.path, "commit", "-q", "-m", "ini")
    project.run().assert_outcomes(passed=9)
    assert calls(docker) == []
    assert not [name for name in project.logs() if name.startswith("services_")]


def test_roadmap_services_replace_the_commands_and_down_runs_at_the_end(
    project: Project, docker: Path
) -> None:
    with_compose(project)
    project.pytester.makeini(
        "[pytest]\nroadmap_services =\n    docker compose up -d db\n"
        "roadmap_services_down = docker compose down\n"
    )
    git(project.path, "add", "-A")
    git(project.path, "commit", "-q", "-m", "ini")
    result = project.run("--roadmap-services", "docker compose up -d redis")
    result.assert_outcomes(passed=9)
    argvs = [call["argv"] for call in calls(docker) if call["argv"] != ["compose", "version"]]
    assert argvs == [["compose", "up", "-d", "redis"], ["compose", "down"]]
    down = calls(docker)[-1]["time"]
    assert down > max(r["end"] for r in project.records("end"))
    result.stdout.fnmatch_lines(["[[]roadmap[]] services stopped"])
    assert "left running" not in result.stdout.str()


def test_failing_up_stops_the_run_before_any_agent(
    project: Project, docker: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_compose(project)
    monkeypatch.setenv("FAKE_DOCKER_FAIL", "1")
    result = project.run("-n", "2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: services did not come up: 'docker compose up -d --wait' exited 1 "
            "(log: logs/orchestrator/services_*.log); no agent was started",
            "pulling db ... done",
            "Cannot connect to the Docker daemon at unix:///var/run/docker.sock.*",
        ]
    )
    assert len(ups(docker)) == 1
    assert project.records() == []
    assert project.status("completed_tasks.txt") == []


def test_no_docker_is_one_preflight_line(
    project: Project, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with_compose(project)
    monkeypatch.setenv("PATH", path_without(tmp_path_factory, "docker", "docker-compose"))
    result = project.run()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: docker compose not found, but the project has compose.yaml "
            "(its services: db, redis): install Docker Compose or set roadmap_services = none"
        ]
    )
    assert project.records() == []


def test_dry_run_and_status_start_nothing(project: Project, docker: Path) -> None:
    with_compose(project)
    dry = project.run("--roadmap-dry-run")
    dry.stdout.fnmatch_lines(["[[]roadmap[]] services: would run docker compose up -d --wait"])
    status = project.run("--roadmap-status")
    assert status.ret == pytest.ExitCode.OK
    status.stdout.fnmatch_lines(["services: a run starts them first with docker compose up*"])
    assert ups(docker) == []
    assert project.records() == []


def test_compose_file_precedence_and_service_names(tmp_path: Path) -> None:
    assert compose_file(tmp_path) is None
    (tmp_path / "docker-compose.yml").write_text("services: {web: {image: x}}\n")
    assert compose_file(tmp_path) == tmp_path / "docker-compose.yml"
    (tmp_path / "compose.yaml").write_text("services: [unclosed\n")
    assert compose_file(tmp_path) == tmp_path / "compose.yaml"
    assert service_names(tmp_path / "compose.yaml") == []
    assert service_names(tmp_path / "docker-compose.yml") == ["web"]
