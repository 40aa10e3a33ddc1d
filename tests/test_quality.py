"""The code base stays lint-clean, type-clean and layered: ruff, mypy and import-linter run as
part of the suite."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def run_tool(command: list[str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / command[0]), *command[1:]],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "check", "."],
        ["ruff", "format", "--check", "."],
        ["mypy"],
        ["lint-imports", "--no-cache"],
    ],
    ids=["ruff-check", "ruff-format", "mypy", "import-layers"],
)
def test_tool_is_clean(command: list[str]) -> None:
    done = run_tool(command)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("module", "added", "broken"),
    [
        (
            "model/plan.py",
            "import pytest_roadmap.control.state",
            "Layers: each imports only those below it",
        ),
        ("model/order.py", "import pytest", "The roadmap model imports no pytest"),
        ("dist/scheduler.py", "import xdist.dsession", "Only the channel knows xdist"),
        (
            "agents/limits.py",
            "import pytest_roadmap.agents.stream",
            "No import cycle between sibling modules",
        ),
    ],
    ids=["upward", "pytest-in-model", "xdist-outside-channel", "cycle"],
)
def test_import_contracts_catch_what_they_forbid(
    tmp_path: Path, module: str, added: str, broken: str
) -> None:
    """A copy of the package with one bad import added on purpose breaks the named contract."""
    shutil.copytree(ROOT / "pytest_roadmap", tmp_path / "pytest_roadmap")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / "pytest_roadmap" / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{added}\n", encoding="utf-8")
    done = run_tool(["lint-imports", "--no-cache"], cwd=tmp_path)
    assert done.returncode != 0, done.stdout
    assert f"{broken}" in done.stdout
    assert "BROKEN" in done.stdout.split(broken, 1)[1].splitlines()[0], done.stdout
