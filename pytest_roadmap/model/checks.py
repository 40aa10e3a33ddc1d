"""A task's checks, as its roadmap entry names them: commands and tests that prove it done.

A task names them in a table column, or in a line of its text, called ``Verify``,
``Checks``, ``Tests`` or ``Done when``. Each check is a command in backticks
(`` `node checks/A1.js` ``) or a test path or node id (``tests/test_auth.py::test_login``);
``-``, ``none`` or nothing means no checks. Prose around them is for the agent only.
No pytest here.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "CheckSyntaxError",
    "TaskCheck",
    "check_commands",
    "check_files",
    "parse_checks",
]

#: names of the column and of the field that hold a task's checks (any case)
CHECK_FIELDS = ("verify", "checks", "tests", "done when")
#: the placeholders of the test command and of the run-wide checks
TESTS_PLACEHOLDER = "{tests}"
TASK_ID_PLACEHOLDER = "{task_id}"

_FIELD_RE = re.compile(
    r"^[ \t]*(?:[-*+][ \t]+)?[*_]{0,2}(verify|checks|tests|done when)[*_]{0,2}[ \t]*:"
    r"[ \t]*[*_]{0,2}(.*)$",
    re.IGNORECASE | re.MULTILINE,
)
_TICKS_RE = re.compile(r"(`+)(.+?)\1")
_TEST_EXT = r"(?:py|js|mjs|cjs|ts|mts|cts|jsx|tsx)"
_TEST_PATH_RE = re.compile(rf"(?:[\w.@-]+/)*[\w.@-]+\.{_TEST_EXT}(?:::[^\s,;]+)?|(?:[\w.@-]+/)+")
_NONE = ("", "-", "none", "n/a")
_PATH_CHARS = re.compile(r"[\w./@-]+")
_CODE_RE = re.compile(r"\.(?:py|[cm]?js|[cm]?ts|jsx|tsx|sh|bash|rb|go|rs|java|kt|php|pl)$")


class CheckSyntaxError(ValueError):
    """A check field that cannot be read (one line, without the roadmap's position)."""


@dataclass(frozen=True)
class TaskCheck:
    """One check: a shell command, or a test path or node id run by the test command."""

    text: str
    is_test: bool = False


def parse_checks(text: str) -> tuple[TaskCheck, ...]:
    """The checks of a task's text: every ``Verify:``-style line (a table column is one)."""
    checks: list[TaskCheck] = []
    for match in _FIELD_RE.finditer(text):
        checks += _parse_value(match.group(2).strip())
    return tuple(dict.fromkeys(checks))


def _parse_value(value: str) -> list[TaskCheck]:
    """The checks of one field's value: backticked commands and test paths, in order."""
    if value.strip(" *_.").lower() in _NONE:
        return []
    if value.count("`") % 2 and "``" not in value:
        raise CheckSyntaxError(f"unclosed backtick in check {value!r}")
    checks: list[TaskCheck] = []
    pos = 0
    for match in _TICKS_RE.finditer(value):
        checks += _bare_tests(value[pos : match.start()])
        checks.append(_backticked(match.group(2).strip()))
        pos = match.end()
    checks += _bare_tests(value[pos:])
    return checks


def _backticked(code: str) -> TaskCheck:
    """A command, unless it is one test path or node id."""
    if _TEST_PATH_RE.fullmatch(code) and _looks_like_test(code):
        return TaskCheck(code, is_test=True)
    return TaskCheck(code)


def _bare_tests(prose: str) -> list[TaskCheck]:
    """Test paths and node ids written without backticks (other words are prose)."""
    found = []
    for raw in prose.split():
        word = raw.strip(",;()[]*_").rstrip(".")
        if word and _TEST_PATH_RE.fullmatch(word) and _looks_like_test(word):
            found.append(TaskCheck(word, is_test=True))
    return found


def _looks_like_test(path: str) -> bool:
    """A path or node id that names a test, not e.g. a version number or a plain file."""
    return "::" in path or "test" in path.lower() or "spec" in path.lower()


def check_commands(
    checks: Sequence[TaskCheck], test_command: str, run_wide: Sequence[str], task_id: str
) -> tuple[str, ...]:
    """The command lines of a task: its commands, one test command for all its tests, then
    the run-wide checks (``{task_id}`` filled in)."""
    commands = [check.text for check in checks if not check.is_test]
    tests = [check.text for check in checks if check.is_test]
    if tests:
        quoted = " ".join(shlex.quote(test) for test in tests)
        if TESTS_PLACEHOLDER in test_command:
            commands.append(test_command.replace(TESTS_PLACEHOLDER, quoted))
        else:
            commands.append(f"{test_command} {quoted}")
    commands += [line.replace(TASK_ID_PLACEHOLDER, task_id) for line in run_wide]
    return tuple(dict.fromkeys(commands))


def check_files(command: str) -> tuple[str, ...]:
    """The check files a command line names: relative paths of code (``checks/A1.js``,
    a node id's file part) or under a test, spec or check name; not the data a check reads
    (``grep -q hello hello.txt``). Whether they exist is for the caller to see."""
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    found = []
    for word in words:
        path = word.split("::", 1)[0]
        if (
            _PATH_CHARS.fullmatch(path)
            and not path.startswith(("/", "-"))
            and ".." not in path.split("/")
            and (_CODE_RE.search(path) or (_looks_like_test(path) and "/" in path))
        ):
            found.append(path)
    return tuple(dict.fromkeys(found))
