"""Shared fixtures: a temporary git project with a ROADMAP.md, run with the fake agent."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

FAKE_AGENT = Path(__file__).parent / "fake_agent.py"

TWO_GROUPS = """\
# Demo roadmap

## Phase 1: Foundation

### Group A: Base
- **A1: First task** - write a1.txt
- **A2: Second task** - write a2.txt

### Group B (Parallel, after A)
- **B1: Third task** - write b1.txt

## Phase 2: More

### Group C: End
- **C1: Last task** - write c1.txt
"""


def git(cwd: Path, *args: str) -> str:
    """Run git in ``cwd`` and return its stdout."""
    done = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout


def path_without(tmp_path_factory: pytest.TempPathFactory, *programs: str) -> str:
    """A PATH holding only git and sh (minus ``programs``): no claude, codex or npm."""
    folder = tmp_path_factory.mktemp("bin")
    for name in ("git", "sh"):
        found = shutil.which(name)
        if name not in programs and found is not None:
            (folder / name).symlink_to(found)
    return str(folder)


class Project:
    """A pytester directory that is a git repository holding a roadmap."""

    def __init__(self, pytester: pytest.Pytester) -> None:
        self.pytester = pytester
        self.path = pytester.path
        self.record = self.path.parent / f"{self.path.name}-agent-record.jsonl"
        git(self.path, "init", "-q", "-b", "main")
        git(self.path, "config", "user.name", "Roadmap Tests")
        git(self.path, "config", "user.email", "tests@example.invalid")
        git(self.path, "config", "commit.gpgsign", "false")
        # pytester's own files of a subprocess run are not the project's
        exclude = self.path / ".git" / "info" / "exclude"
        exclude.write_text("stdout\nstderr\nrunpytest-current\n", encoding="utf-8")

    def roadmap(self, text: str = TWO_GROUPS, commit: bool = True) -> Path:
        """Write ROADMAP.md (and commit it, so the tree starts clean)."""
        path = self.path / "ROADMAP.md"
        path.write_text(text, encoding="utf-8")
        if commit:
            git(self.path, "add", "-A")
            git(self.path, "commit", "-q", "-m", "add roadmap")
        return path

    def agent(self, *flags: str) -> str:
        """The fake agent's command line with ``flags`` for every task."""
        return shlex.join([sys.executable, str(FAKE_AGENT), *flags])

    def run(
        self,
        *args: str,
        agent: str | None = None,
        plan: dict[str, list[str]] | None = None,
        timeout: float = 120,
        push: bool = False,
    ) -> pytest.RunResult:
        """``pytest --roadmap ROADMAP.md`` in a subprocess, with the fake agent; it pushes
        only with ``push``."""
        env = {"FAKE_AGENT_RECORD": str(self.record)}
        if plan is not None:
            env["FAKE_AGENT_PLAN"] = json.dumps(plan)
        with pytest.MonkeyPatch.context() as mp:
            for key, value in env.items():
                mp.setenv(key, value)
            mp.delenv("PYTEST_ADDOPTS", raising=False)
            return self.pytester.runpytest_subprocess(
                "--roadmap",
                "ROADMAP.md",
                "--roadmap-agent-command",
                agent or self.agent(),
                *([] if push else ["--roadmap-no-push"]),
                "--roadmap-stagger",  # staggering is tested on its own
                "0",
                "-p",
                "no:randomly",
                *args,
                timeout=timeout,
            )

    def records(self, event: str | None = None) -> list[dict[str, Any]]:
        """The fake agents' start/end records, in file order."""
        if not self.record.exists():
            return []
        rows = [json.loads(line) for line in self.record.read_text().splitlines() if line]
        return [r for r in rows if event is None or r.get("event") == event]

    def status(self, name: str) -> list[str]:
        """Lines of status/<name>."""
        path = self.path / "status" / name
        return path.read_text(encoding="utf-8").splitlines() if path.exists() else []

    def logs(self) -> list[str]:
        """Names of the files in logs/orchestrator."""
        folder = self.path / "logs" / "orchestrator"
        return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.fixture
def project(pytester: pytest.Pytester) -> Project:
    """A fresh git project for one test."""
    return Project(pytester)


@pytest.fixture(autouse=True)
def _no_agent_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the caller's agent settings out of the tests."""
    for name in (
        "CLAUDE_BIN",
        "MAX_PARALLEL_AGENTS",
        "FAKE_AGENT_PLAN",
        "CLAUDECODE",
        "TASK_TIMEOUT",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setitem(os.environ, "PY_COLORS", "0")
