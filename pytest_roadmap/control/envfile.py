"""The project's .env: present when a .env.example (or .env.sample) says it should be."""

from __future__ import annotations

import re
from pathlib import Path

from pytest_roadmap.paths import first_file
from pytest_roadmap.settings import name

EXAMPLES = (".env.example", ".env.sample")
_KEY = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=")


def example_file(project_dir: Path) -> Path | None:
    """The project's .env.example or .env.sample, or None."""
    return first_file(project_dir, EXAMPLES)


def keys(path: Path) -> list[str]:
    """The names a dotenv file assigns, in order (values are never read out)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    found = (_KEY.match(line) for line in text.splitlines())
    return list(dict.fromkeys(match.group(1) for match in found if match))


def missing_env(project_dir: Path) -> str | None:
    """The preflight line when an example exists and .env does not."""
    example = example_file(project_dir)
    if example is None or (project_dir / ".env").exists():
        return None
    return (
        f"{example.name} is here but .env is not: cp {example.name} .env and fill it in "
        f"(or set {name('require_env')} = false)"
    )


def missing_keys(project_dir: Path) -> tuple[str, list[str]]:
    """The example's name and the keys it has that .env lacks."""
    example = example_file(project_dir)
    env = project_dir / ".env"
    if example is None or not env.is_file():
        return "", []
    have = set(keys(env))
    return example.name, [key for key in keys(example) if key not in have]
