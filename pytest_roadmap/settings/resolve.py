"""Options and ini settings registered from the table, and their resolution into one
frozen :class:`~pytest_roadmap.settings.table.Settings`."""

from __future__ import annotations

import os
import shlex
import shutil
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from pytest_roadmap.settings.declare import Setting
from pytest_roadmap.settings.table import BY_FIELD
from pytest_roadmap.settings.table import REPORT_IN_STATUS_DIR
from pytest_roadmap.settings.table import REPORT_NAME
from pytest_roadmap.settings.table import SETTINGS
from pytest_roadmap.settings.table import Settings
from pytest_roadmap.settings.targets import masked_args
from pytest_roadmap.text import WIDTH

#: (value as given, where it came from); value None when set nowhere
Found = tuple[object, str]


def described(spec: Setting) -> str:
    """A setting's help with its environment variable and default, as --help shows it."""
    extras = [f"env {spec.env}"] if spec.env else []
    if spec.default not in (None, (), False):
        extras.append(f"default {shown_default(spec.default)}")
    return spec.help + (f" ({'; '.join(extras)})" if extras else "")


def shown_default(value: object) -> str:
    """A default as a person writes it: 3600, not 3600.0."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def add_options(parser: pytest.Parser) -> None:
    """Register every setting's option and ini name."""
    group = parser.getgroup("roadmap", "run a Markdown roadmap through coding agents")
    for spec in SETTINGS:
        if spec.ini is not None:
            parser.addini(spec.name, described(spec), type=spec.ini, default=None)
        if spec.cli is None:
            continue
        assert spec.flag is not None
        help_text = spec.cli_help or described(spec)
        names = (spec.flag, *spec.aliases)
        if spec.cli == "flag":
            group.addoption(*names, dest=spec.name, action="store_true", help=help_text)
        else:
            group.addoption(
                *names,
                dest=spec.name,
                action="append" if spec.cli == "append" else "store",
                metavar=spec.metavar,
                choices=spec.choices,
                default=None,
                help=help_text,
            )


def flag(field: str) -> str:
    """The command-line option of the setting ``field``: ``--roadmap-no-gates``."""
    spelled = BY_FIELD[field].flag
    assert spelled is not None, f"{field} has no command-line option"
    return spelled


def name(field: str) -> str:
    """The ini and front matter key of the setting ``field``: ``roadmap_gates``."""
    return BY_FIELD[field].name


def given_roadmap(config: pytest.Config) -> str | None:
    """The roadmap path given on the command line, before settings are resolved."""
    value = config.getoption(name("roadmap"), default=None)
    return str(value) if value else None


def ini_text(config: pytest.Config, field: str) -> str:
    """An ini string setting as the ini file has it ('' when unset)."""
    return str(config.getini(name(field)) or "")


def unknown_front_matter(front_matter: Mapping[str, object]) -> list[str]:
    """Front matter keys that are not settings."""
    return [key for key in front_matter if key not in front_matter_keys()]


def front_matter_keys() -> list[str]:
    """The keys a roadmap's front matter may set."""
    return [spec.name for spec in SETTINGS if spec.front_matter]


def find_claude(configured: str | None) -> str | None:
    """Resolve the Claude Code CLI: an explicit path or name, else ``claude`` on PATH."""
    return shutil.which(configured or "claude")


class _Lookup:
    """Looks a setting up on the command line, in the environment, front matter and ini."""

    def __init__(self, config: pytest.Config, front_matter: Mapping[str, object]) -> None:
        self.config = config
        self.front_matter = front_matter

    def __call__(self, spec: Setting) -> Found:
        if spec.cli is not None:
            value = self.config.getoption(spec.name, default=None)
            if value is not None and value is not False:
                return value, str(spec.flag)
        if spec.env and os.environ.get(spec.env):
            return os.environ[spec.env], f"{spec.env} environment variable"
        if spec.ini is None:
            return None, "default"
        if spec.name in self.front_matter:
            return self.front_matter[spec.name], f"{spec.name} in the roadmap's front matter"
        value = self.config.getini(spec.name)
        if value not in (None, "", []):
            return value, f"{spec.name} in the ini file"
        return None, "default"


def _rank(where: str) -> int:
    """Precedence of where a setting came from: command line 3, env 2, front matter 1, ini 0."""
    if where.startswith("--"):
        return 3
    if where.endswith("environment variable"):
        return 2
    return 1 if where.endswith("front matter") else 0


def resolve(config: pytest.Config, roadmap: Path, front_matter: Mapping[str, object]) -> Settings:
    """Resolve every setting for the roadmap at ``roadmap`` (an absolute path)."""
    look = _Lookup(config, front_matter)
    found = {spec.field: look(spec) for spec in SETTINGS}
    values: dict[str, Any] = {}
    for spec in SETTINGS:
        value, where = found[spec.field]
        values[spec.field] = spec.default if value is None else spec.parse(value, where)
    project_dir = roadmap.parent
    values.update(roadmap=roadmap, project_dir=project_dir)
    for field in ("prompt_template", "log_dir", "status_dir"):
        if values[field] is not None:
            values[field] = project_dir / values[field]
    if values["report"] == REPORT_IN_STATUS_DIR or values["report"] == Path():
        values["report"] = values["status_dir"] / REPORT_NAME
    elif values["report"] is not None:
        values["report"] = project_dir / values["report"]
    if values["no_gates"]:
        values["gates"] = ()
    values["agent"] = _agent(found["agent"], found["agent_command"], values["agent"])
    if values["agent"] != "command":
        values["agent_command"] = None
    values["claude_bin"] = find_claude(values["claude_bin"])
    return Settings(**values)


def _agent(preset: Found, command: Found, parsed: str) -> str:
    """The agent preset; a roadmap_agent_command set where it wins means 'command'."""
    (value, where), (command_value, command_where) = preset, command
    if command_value and (value is None or _rank(command_where) > _rank(where)):
        return "command"
    if parsed == "command" and not command_value:
        raise pytest.UsageError(
            f"agent 'command' from {where} needs {name('agent_command')} "
            f"(or {flag('agent_command')} CMD)"
        )
    return parsed


def resume_command(args: Sequence[str], width: int = WIDTH) -> list[str]:
    """``pytest`` and the run's own arguments minus the redo option, wrapped with ``\\``."""
    shown = masked_args(args, (flag("notify") or "", name("notify")))  # URLs hold tokens
    words = ["pytest", *(shlex.quote(a) for a in shown if a != flag("redo"))]
    lines: list[str] = []
    line = ""
    for word in words:
        if line and len(line) + 1 + len(word) + 2 > width:
            lines.append(line + " \\")
            line = "  " + word
        else:
            line = f"{line} {word}" if line else word
    lines.append(line)
    return lines
