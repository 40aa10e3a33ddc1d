"""``docs/options.md``, generated from the settings table.

Regenerate with ``python -m pytest_roadmap.settings.reference docs/options.md``; a test
fails while the page differs from the table.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pytest_roadmap.settings.declare import Setting
from pytest_roadmap.settings.resolve import shown_default
from pytest_roadmap.settings.table import SETTINGS

HEADER = """\
# Options

Every setting of a roadmap run. A setting is read, highest precedence first, from the
command line, its environment variable, the roadmap's YAML front matter, the ini file
(`pytest.ini`, `tox.ini`, `setup.cfg` or `[tool.pytest.ini_options]` in
`pyproject.toml`), and else takes its default. Front matter takes the ini names:

```markdown
---
roadmap_task_timeout: 1800
roadmap_gates:
  - npm test
---
```

This page is generated from the settings table (`pytest_roadmap/settings/table.py`).

| Setting | Command line | Environment | Default | What it does |
|---|---|---|---|---|
"""


def render() -> str:
    """The whole page."""
    return HEADER + "".join(_row(spec) for spec in SETTINGS)


def _row(spec: Setting) -> str:
    ini = f"`{spec.name}`" if spec.ini is not None else "—"
    if spec.cli is None:
        cli = ""
    else:
        value = f" {spec.metavar}" if spec.metavar and spec.cli != "flag" else ""
        choices = f" {{{','.join(spec.choices)}}}" if spec.choices else ""
        cli = "<br>".join(f"`{flag}{value or choices}`" for flag in (spec.flag, *spec.aliases))
        if spec.cli == "append":
            cli += " (repeat)"
    env = f"`{spec.env}`" if spec.env else ""
    unset = spec.default in (None, (), "") or spec.cli == "flag"
    default = "" if unset else f"`{shown_default(spec.default)}`"
    help_text = spec.help.replace("|", "\\|")
    return f"| {ini} | {cli} | {env} | {default} | {help_text} |\n"


def main(argv: list[str]) -> int:
    """Write the page to the path given, or print it."""
    if argv:
        Path(argv[0]).write_text(render(), encoding="utf-8")
    else:
        sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
