"""A gate with no commands checks nothing: the run says so once, and its gates say
"nothing to check" rather than "group complete" alone."""

from __future__ import annotations

from pytest_roadmap.settings import Settings
from pytest_roadmap.settings import flag
from pytest_roadmap.settings import name
from pytest_roadmap.steps.gate import NPM_GATES
from pytest_roadmap.steps.gate import default_gates

__all__ = ["NOTHING_TO_CHECK", "no_gate_commands"]

NOTHING_TO_CHECK = "nothing to check"


def no_gate_commands(settings: Settings) -> str | None:
    """The start line when the groups' gates have no commands, else None."""
    if settings.no_gates:
        why = f"{flag('no_gates')}: the gates are turned off"
    elif settings.gates is not None:
        if settings.gates:
            return None
        why = f"{name('gates')} is empty"
    elif default_gates(settings.project_dir).commands:
        return None
    else:
        scripts = "/".join(script for script, _ in NPM_GATES)
        has = (settings.project_dir / "package.json").is_file()
        npm = f"package.json has no {scripts} scripts" if has else "no package.json"
        why = f"{npm} and {name('gates')} is unset"
    return f"no gate commands ({why}): groups are not checked"
