"""The code base stays lint-clean, type-clean and layered: ruff, mypy and import-linter run as
part of the suite."""

from __future__ import annotations

import re
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


def test_no_duplicate_code() -> None:
    """pylint's duplicate-code scan finds no copied block in the package."""
    done = run_tool(["pylint", "--disable=all", "--enable=duplicate-code", "pytest_roadmap"])
    assert done.returncode == 0, done.stdout + done.stderr


def test_docs_build_strict(tmp_path: Path) -> None:
    """The MkDocs site builds with every link and anchor found."""
    done = run_tool(["mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")])
    assert done.returncode == 0, done.stdout + done.stderr


def test_options_page_is_generated_from_the_table() -> None:
    """docs/options.md is what the settings table renders: regenerate it after a change."""
    from pytest_roadmap.settings.reference import render

    page = (ROOT / "docs" / "options.md").read_text(encoding="utf-8")
    assert page == render(), (
        "docs/options.md is stale: run python -m pytest_roadmap.settings.reference docs/options.md"
    )


def test_settings_are_spelled_only_in_their_table() -> None:
    """No module outside pytest_roadmap/settings/ spells a setting's name or option."""
    from pytest_roadmap.settings.table import SETTINGS

    spelled = {spec.name for spec in SETTINGS} | {
        option for spec in SETTINGS for option in (spec.flag, *spec.aliases) if option
    }
    word = re.compile(r"(?<![\w-])(?:--[a-z][a-z-]*|roadmap_[a-z_]+)(?![\w-])")
    found = [
        f"{path.relative_to(ROOT)}:{number}: {match}"
        for path in sorted((ROOT / "pytest_roadmap").rglob("*.py"))
        if "settings" not in path.relative_to(ROOT / "pytest_roadmap").parts
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        for match in word.findall(line)
        if match in spelled
    ]
    assert not found, "\n".join(found)


def test_readme_is_a_front_page() -> None:
    """The README stays short; the reference lives in docs/."""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) < 150
