"""How a setting is declared: one :func:`setting` per field of the settings table.

A field's name gives the setting its names: ``task_timeout`` is the ini and front matter
key ``roadmap_task_timeout`` and the option ``--roadmap-task-timeout``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from typing import Literal

#: where :func:`setting` keeps its declaration in a field's metadata
KEY = "roadmap_setting"

#: (value as given, where it came from) -> the typed value
Parse = Callable[[object, str], Any]
IniType = Literal["string", "linelist", "args"]
Cli = Literal["value", "flag", "append"]


@dataclass(frozen=True)
class Setting:
    """One setting: its names, parser, default, help and where it may be given."""

    field: str
    help: str
    parse: Parse
    default: Any
    ini: IniType | None  # None: on the command line only
    cli: Cli | None  # None: ini and front matter only
    env: str | None
    metavar: str | None
    choices: tuple[str, ...] | None
    aliases: tuple[str, ...]
    cli_help: str | None
    key: str | None
    option: str | None

    @property
    def name(self) -> str:
        """The ini and front matter key, and the option's dest: ``roadmap_<field>``."""
        return self.key or f"roadmap_{self.field}"

    @property
    def flag(self) -> str | None:
        """The command-line option, or None when the setting has none."""
        if self.cli is None:
            return None
        return self.option or "--" + self.name.replace("_", "-")

    @property
    def front_matter(self) -> bool:
        """Whether a roadmap's front matter may set it (every ini setting may)."""
        return self.ini is not None


def setting(
    help: str,
    parse: Parse,
    default: Any = None,
    *,
    ini: IniType | None = "string",
    cli: Cli | None = "value",
    env: str | None = None,
    metavar: str | None = None,
    choices: tuple[str, ...] | None = None,
    aliases: tuple[str, ...] = (),
    cli_help: str | None = None,
    key: str | None = None,
    option: str | None = None,
) -> Any:
    """A field of the settings table with its declaration (help: lower case, no period).

    ``key`` replaces the name ``roadmap_<field>``, ``option`` the option ``--roadmap-<field>``.
    """
    spec = Setting(
        "", help, parse, default, ini, cli, env, metavar, choices, aliases, cli_help, key, option
    )
    return dataclasses.field(default=default, metadata={KEY: spec})


def declared(cls: type) -> tuple[Setting, ...]:
    """The settings declared on the dataclass ``cls``, in order, each with its field name."""
    return tuple(
        dataclasses.replace(field.metadata[KEY], field=field.name)
        for field in dataclasses.fields(cls)
        if KEY in field.metadata
    )
