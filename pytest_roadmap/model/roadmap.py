from __future__ import annotations

# Parse a Markdown ROADMAP.md into phases, groups and tasks.
#
# The file is read with markdown-it-py's block token stream (CommonMark plus
# GFM tables); line numbers come from the tokens' ``map``.  Only top-level
# blocks matter: headings, lists and tables.
import dataclasses
import re
from collections.abc import Iterator
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field

import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token

from pytest_roadmap.model.checks import CheckSyntaxError
from pytest_roadmap.model.checks import TaskCheck
from pytest_roadmap.model.checks import parse_checks
from pytest_roadmap.text import one_line

__all__ = [
    "Group",
    "Phase",
    "Roadmap",
    "RoadmapError",
    "Task",
    "parse_roadmap",
    "render_roadmap",
]


class RoadmapError(ValueError):
    """One-line, user-facing: '<path>:<line>: <what is wrong>' or '<path>: <what>'."""


@dataclass(frozen=True)
class Task:
    """One task: run by one agent."""

    id: str
    title: str
    text: str
    line: int
    done: bool
    #: what proves it done (its ``Verify``/``Checks``/``Tests``/``Done when``; model/checks.py)
    checks: tuple[TaskCheck, ...] = ()


@dataclass(frozen=True)
class Group:
    """Tasks that run in parallel."""

    id: str
    title: str
    line: int
    tasks: tuple[Task, ...]


@dataclass(frozen=True)
class Phase:
    """Groups that run one after another."""

    number: int
    title: str
    line: int
    groups: tuple[Group, ...]


@dataclass(frozen=True)
class Roadmap:
    """A parsed roadmap: phases in file order plus front-matter settings."""

    path: str
    phases: tuple[Phase, ...]
    settings: dict[str, object] = field(default_factory=dict, compare=False, hash=False)

    def tasks(self) -> Iterator[tuple[Phase, Group, Task]]:
        """Every task with its phase and group, in file order."""
        for phase in self.phases:
            for group in phase.groups:
                for task in group.tasks:
                    yield phase, group, task


# --- small patterns (each applied to one inline text, never the whole file) ---

# A task id ('A1', 'AA3', 'A1.2', 'A1-b'): never '/', '\\', '..', blanks or a leading dot,
# so it is safe as part of a file name.  Check a whole string with TASK_ID_RE.fullmatch().
_ID = r"[A-Z]+[0-9]+(?:[.-][A-Za-z0-9]+)*"
TASK_ID_RE = re.compile(_ID)
_SEP = r"[:\-\u2013\u2014.]"
_ID_HEAD_RE = re.compile(rf"({_ID})(?=$|[\s:)\u2013\u2014]|[.-](?!\S))")
_SEP_RE = re.compile(rf"\s*{_SEP}?\s*")
_PHASE_RE = re.compile(r"(?i:phase)\s+([0-9]{1,9})\b\s*" + _SEP + r"?\s*(.*)")
_GROUP_RE = re.compile(r"(?i:group)\s+([A-Z]+)\b\s*(?:\([^)]*\))?\s*" + _SEP + r"?\s*(.*)")
_TASK_HEADING_RE = re.compile(r"(?:(?i:task)\s+)?(" + _ID + r"\b.*)")
_CHECKBOX_RE = re.compile(r"\[([ xX])\]\s+")
_LEAD_CHECK_RE = re.compile(r"\s*\u2705\s*")
_STATUS_DONE_RE = re.compile(r"status\W*:\W*(?:\u2705|done|complete)", re.IGNORECASE)
_CODE_SPAN_RE = re.compile(r"(?<!`)(`+)(?!`).*?(?<!`)\1(?!`)")
_EMPHASIS_RES = (  # content excludes the marker character: linear time on any line
    re.compile(r"\*\*(?=\S)([^*]+?)(?<=\S)\*\*"),
    re.compile(r"(?<!\w)__(?=\S)([^_]+?)(?<=\S)__(?!\w)"),
    re.compile(r"(?<!\*)\*(?=[^\s*])([^*]+?)(?<=[^\s*])\*(?!\*)"),
    re.compile(r"(?<!\w)_(?=[^\s_])([^_]+?)(?<=[^\s_])_(?!\w)"),
)
_NEWLINE_RE = re.compile(r"\r\n?")
_LIST_MARKER_RE = re.compile(r"[ ]*(?:[-+*]|[0-9]{1,9}[.)])( *)")
_CHECK = "\u2705"

_LIST_OPEN = {"bullet_list_open": "bullet_list_close", "ordered_list_open": "ordered_list_close"}


def _markdown() -> MarkdownIt:
    """CommonMark + tables, block level only (inline parsing is not needed)."""
    return MarkdownIt("commonmark").enable("table").disable("inline")


_MD = _markdown()


# --- text helpers ---


def _strip_emphasis(text: str) -> str:
    """Unwrap '**x**', '__x__', '*x*' and '_x_' outside code spans."""
    parts: list[str] = []
    pos = 0
    for m in _CODE_SPAN_RE.finditer(text):
        parts.append(_unwrap(text[pos : m.start()]))
        parts.append(m.group(0))
        pos = m.end()
    parts.append(_unwrap(text[pos:]))
    return "".join(parts).strip()


def _unwrap(text: str) -> str:
    if "*" not in text and "_" not in text:
        return text
    for pattern in _EMPHASIS_RES:
        text = pattern.sub(r"\1", text)
    return text


def _strip_check(text: str) -> tuple[str, bool]:
    """Strip trailing ✅ marks; report whether there were any."""
    done = False
    text = text.strip()
    while text.endswith(_CHECK):
        done = True
        text = text[: -len(_CHECK)].rstrip()
    return text, done


def _clean_title(text: str) -> tuple[str, bool]:
    """First line, emphasis removed, trailing ✅ removed (reported as done)."""
    first = text.split("\n", 1)[0]
    title, done = _strip_check(_strip_emphasis(first))
    return title, done


def _split_id(text: str) -> tuple[str, bool, str] | None:
    """Split off a leading id: 'A1: T' -> ('A1', True, 'T'); 'A1' -> ('A1', False, '')."""
    m = _ID_HEAD_RE.match(text)
    if m is None:
        return None
    rest = text[m.end() :]
    return m.group(1), rest != "", _drop_sep(rest)


def _drop_sep(text: str) -> str:
    """Drop one leading separator (':', '-', dash or '.') and surrounding blanks."""
    m = _SEP_RE.match(text)
    return text[m.end() :] if m else text


def _error(path: str, line: int | None, what: str) -> RoadmapError:
    where = path if line is None else f"{path}:{line}"
    return RoadmapError(one_line(f"{where}: {what}"))


# --- task head parsing (bullets and table cells) ---


@dataclass(frozen=True)
class _Head:
    id: str
    title: str
    rest: str
    done: bool


def _parse_head(line: str, *, plain_ok: bool) -> _Head | None:
    """Parse the first line of a bullet or table cell: '[x] **A1: Title** - rest'."""
    done = False
    box = _CHECKBOX_RE.match(line)
    if box is not None:
        done = box.group(1) != " "
        plain_ok = True
        line = line[box.end() :]
    lead = _LEAD_CHECK_RE.match(line)
    if lead is not None:
        done = True
        line = line[lead.end() :]
    bold = _split_bold(line)
    if bold is not None:
        return _bold_head(*bold, done)
    if not plain_ok:
        return None
    split = _split_id(line.strip())
    if split is None:
        return None
    title, checked = _clean_title(split[2])
    return _Head(split[0], title, "", done or checked)


def _split_bold(line: str) -> tuple[str, str] | None:
    """'**inner** after' -> (inner, after); code spans inside may hold '**'."""
    marker = line[:2]
    if marker not in ("**", "__"):
        return None
    pos = 2
    while True:
        close = line.find(marker, pos)
        if close < 0:
            return None
        tick = line.find("`", pos, close)
        if tick < 0:
            break
        span = _CODE_SPAN_RE.match(line, tick)
        pos = span.end() if span else tick + 1
    if close == 2:
        return None
    return line[2:close], line[close + 2 :]


def _bold_head(inner: str, after: str, done: bool) -> _Head | None:
    """'**A1: Title** - rest' or '**A1**: title-and-rest'."""
    split = _split_id(inner.strip())
    if split is None:
        return None
    task_id, has_title, inner = split
    lead = _LEAD_CHECK_RE.match(after)
    if lead is not None:
        done = True
        after = after[lead.end() :]
    if has_title:
        title, checked = _clean_title(inner)
        return _Head(task_id, title, _drop_sep(after).strip(), done or checked)
    title, checked = _clean_title(_drop_sep(after))
    return _Head(task_id, title, "", done or checked)


def _dedent(lines: Sequence[str], indent: int) -> list[str]:
    """Remove up to ``indent`` leading spaces from each line."""
    out: list[str] = []
    for line in lines:
        spaces = len(line) - len(line.lstrip(" "))
        out.append(line[min(spaces, indent) :])
    return out


def _item_indent(line: str) -> int:
    """Content column of a list item from its first source line."""
    m = _LIST_MARKER_RE.match(line)
    if m is None:
        return 0
    spaces = len(m.group(1))
    return m.end() if 1 <= spaces <= 4 else m.start(1) + 1


def _join_text(*parts: str) -> str:
    return "\n".join(p for p in parts if p).strip()


# --- the parser ---


@dataclass
class _GroupDraft:
    id: str
    title: str
    line: int
    tasks: list[Task] = field(default_factory=list)


@dataclass
class _PhaseDraft:
    number: int
    title: str
    line: int
    groups: list[_GroupDraft] = field(default_factory=list)


@dataclass
class _Section:
    """An open '#### A1: Title' task, collecting lines until the next heading."""

    id: str
    title: str
    line: int
    start: int
    done: bool


class _Parser:
    """Single pass over top-level block tokens; builds drafts and collects problems."""

    def __init__(self, path: str, lines: list[str]) -> None:
        self.path = path
        self.lines = lines
        self.phases: list[_PhaseDraft] = []
        self.phase: _PhaseDraft | None = None
        self.group: _GroupDraft | None = None
        self.group_skipped = False
        self.section: _Section | None = None
        self.problems: list[tuple[int, str]] = []

    def run(self, tokens: list[Token]) -> None:
        i = 0
        while i < len(tokens):
            tok = tokens[i]
            if tok.level != 0:
                i += 1
            elif tok.type == "heading_open":
                self._heading(tok, tokens[i + 1])
                i += 3
            elif self.section is not None:
                i += 1
            elif tok.type in _LIST_OPEN:
                i = self._list(tokens, i)
            elif tok.type == "table_open":
                i = self._table(tokens, i)
            else:
                i += 1
        self._close_section(len(self.lines))

    # headings

    def _heading(self, tok: Token, inline: Token) -> None:
        level = int(tok.tag[1])
        text, done = _strip_check(_strip_emphasis(inline.content.split("\n", 1)[0]))
        if text.startswith(_CHECK):
            done = True
            text = text.lstrip(_CHECK + " \t")
        if level > 4 or (tok.markup in ("=", "-") and _PHASE_RE.fullmatch(text) is None):
            return  # a setext heading is often an accidental '---' under a line: only phases count
        start = _line(tok)
        self._close_section(start - 1)
        if level == 2:
            self._phase_heading(text, start)
        elif level == 3:
            self._group_heading(text, start)
        elif level == 4:
            self._task_heading(text, done, start, _end(tok))

    def _phase_heading(self, text: str, line: int) -> None:
        self.group = None
        self.group_skipped = False
        m = _PHASE_RE.fullmatch(text)
        if m is None:
            self.phase = None
            return
        self.phase = _PhaseDraft(int(m.group(1)), m.group(2).strip(), line)
        self.phases.append(self.phase)

    def _group_heading(self, text: str, line: int) -> None:
        if self.phase is None:
            return
        m = _GROUP_RE.fullmatch(text)
        if m is None:
            self.group = None
            self.group_skipped = True
            return
        self.group = _GroupDraft(m.group(1), m.group(2).strip(), line)
        self.phase.groups.append(self.group)

    def _task_heading(self, text: str, done: bool, line: int, end: int) -> None:
        m = _TASK_HEADING_RE.fullmatch(text)
        split = None if m is None else _split_id(m.group(1))
        if split is None:
            return
        self.section = _Section(split[0], split[2].strip(), line, end, done)

    def _close_section(self, end: int) -> None:
        sec = self.section
        if sec is None:
            return
        self.section = None
        text = "\n".join(self.lines[sec.start : end]).strip()
        done = sec.done or _STATUS_DONE_RE.search(text) is not None
        self._add(Task(sec.id, sec.title, text, sec.line, done))

    # lists and tables

    def _list(self, tokens: list[Token], i: int) -> int:
        close = _LIST_OPEN[tokens[i].type]
        i += 1
        while not (tokens[i].type == close and tokens[i].level == 0):
            tok = tokens[i]
            if tok.type == "list_item_open" and tok.level == 1:
                self._item(tok, tokens[i + 1], tokens[i + 2])
            i += 1
        return i + 1

    def _item(self, item: Token, para: Token, inline: Token) -> None:
        if para.type != "paragraph_open" or _line(para) != _line(item):
            return
        head = _parse_head(inline.content.split("\n", 1)[0], plain_ok=False)
        if head is None:
            return
        start = _line(item) - 1
        below = _dedent(self.lines[start + 1 : _end(item)], _item_indent(self.lines[start]))
        text = _join_text(head.rest, "\n".join(below).strip())
        self._add(Task(head.id, head.title, text, _line(item), head.done))

    def _table(self, tokens: list[Token], i: int) -> int:
        header: list[str] = []
        row: list[str] = []
        row_line = 0
        i += 1
        while tokens[i].type != "table_close":
            tok = tokens[i]
            if tok.type == "tr_open":
                row, row_line = [], _line(tok)
            elif tok.type == "inline":
                row.append(tok.content.strip())
            elif tok.type == "tr_close":
                if header:
                    self._row(header, row, row_line)
                else:
                    header = row
            i += 1
        return i + 1

    def _row(self, header: list[str], cells: list[str], line: int) -> None:
        if not cells:
            return
        head = _parse_head(cells[0], plain_ok=True)
        if head is None:
            return
        done = head.done
        notes = [head.rest]
        for raw_name, value in zip(header[1:], cells[1:], strict=False):
            name = _strip_emphasis(raw_name)
            done = done or _cell_done(name, value)
            if value:
                notes.append(f"{name}: {value}" if name else value)
        self._add(Task(head.id, head.title, _join_text(*notes), line, done))

    # building

    def _add(self, task: Task) -> None:
        if self.phase is None:
            return
        try:
            task = dataclasses.replace(task, checks=parse_checks(task.text))
        except CheckSyntaxError as exc:
            self.problems.append((task.line, f"task {task.id}: {exc}"))
        if self.group is not None:
            self.group.tasks.append(task)
        elif not self.group_skipped:
            letters = re.match(r"[A-Z]+", task.id)
            group = letters.group(0) if letters else "A"
            what = (
                f"task {task.id} is outside a group "
                f"(add a '### Group {group}: Title' heading above it)"
            )
            self.problems.append((task.line, what))

    def build(self, settings: dict[str, object]) -> Roadmap:
        if not self.phases:
            raise _error(self.path, None, _NO_PHASES)
        self._check()
        if self.problems:
            line, what = min(self.problems, key=lambda p: p[0])
            raise _error(self.path, line, what)
        phases = tuple(_freeze(p) for p in self.phases)
        return Roadmap(self.path, phases, settings)

    def _check(self) -> None:
        phase_lines: dict[int, int] = {}
        task_lines: dict[str, int] = {}
        for phase in self.phases:
            first = phase_lines.setdefault(phase.number, phase.line)
            if first != phase.line:
                self._problem(phase.line, f"duplicate Phase {phase.number} (first at line {first})")
            if not phase.groups:
                self._problem(phase.line, f"Phase {phase.number} has no groups")
            self._check_groups(phase, task_lines)

    def _check_groups(self, phase: _PhaseDraft, task_lines: dict[str, int]) -> None:
        group_lines: dict[str, int] = {}
        for group in phase.groups:
            first = group_lines.setdefault(group.id, group.line)
            if first != group.line:
                what = f"duplicate Group {group.id} in Phase {phase.number} (first at line {first})"
                self._problem(group.line, what)
            if not group.tasks:
                self._problem(group.line, f"Phase {phase.number} Group {group.id} has no tasks")
            for task in group.tasks:
                first = task_lines.setdefault(task.id, task.line)
                if first != task.line:
                    what = f"duplicate task id {task.id} (first at line {first})"
                    self._problem(task.line, what)

    def _problem(self, line: int, what: str) -> None:
        self.problems.append((line, what))


_NO_PHASES = "no phases found (expected a heading like '## Phase 1: Title')"


def _line(tok: Token) -> int:
    """1-based first line of a block token."""
    return (tok.map or (0, 0))[0] + 1


def _end(tok: Token) -> int:
    """0-based line after a block token."""
    return (tok.map or (0, 0))[1]


def _cell_done(header: str, value: str) -> bool:
    if _CHECK in value:
        return True
    if header.lower() != "status":
        return False
    word = value.lstrip("*_ ").lower()
    return word.startswith(("done", "complete"))


def _freeze(phase: _PhaseDraft) -> Phase:
    groups = tuple(Group(g.id, g.title, g.line, tuple(g.tasks)) for g in phase.groups)
    return Phase(phase.number, phase.title, phase.line, groups)


# --- front matter ---


def _front_matter(lines: list[str], path: str) -> tuple[dict[str, object], int]:
    """Settings from a leading '---' block and the number of lines it spans."""
    if not lines or lines[0].rstrip() != "---":
        return {}, 0
    for end in range(1, len(lines)):
        if lines[end].rstrip() == "---":
            break
    else:
        raise _error(path, 1, "front matter is not closed (expected a '---' line after it)")
    data = _load_yaml("\n".join(lines[1:end]), path)
    if data is None:
        return {}, end + 1
    if not isinstance(data, dict):
        raise _error(path, 1, "front matter must be a YAML mapping")
    for key in data:
        if not isinstance(key, str):
            raise _error(path, 1, f"front matter keys must be strings (got {key!r})")
    return dict(data), end + 1


def _load_yaml(source: str, path: str) -> object:
    try:
        return yaml.safe_load(source)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = 2 + mark.line if mark is not None else 1
        problem = exc.problem or exc.context or "invalid YAML"
        raise _error(path, line, f"bad front matter: {problem}") from None
    except (yaml.YAMLError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise _error(path, 1, f"bad front matter: {exc}") from None


# --- public entry points ---


def parse_roadmap(text: str, path: str = "ROADMAP.md") -> Roadmap:
    """Parse roadmap Markdown; raise RoadmapError for a roadmap that cannot run."""
    source = _NEWLINE_RE.sub("\n", text.removeprefix("\ufeff")).replace("\0", "\ufffd")
    lines = source.split("\n")
    settings, skip = _front_matter(lines, path)
    body = "\n" * skip + "\n".join(lines[skip:]) if skip else source
    parser = _Parser(path, lines)
    parser.run(_MD.parse(body))
    return parser.build(settings)


# --- rendering ---


def render_roadmap(roadmap: Roadmap) -> str:
    """Canonical Markdown for a roadmap; parses back to the same structure."""
    out: list[str] = []
    if roadmap.settings:
        dumped = yaml.safe_dump(dict(roadmap.settings), sort_keys=False, allow_unicode=True)
        out += ["---", dumped.rstrip("\n"), "---", ""]
    for phase in roadmap.phases:
        out += [_heading(2, f"Phase {phase.number}", phase.title), ""]
        for group in phase.groups:
            out += [_heading(3, f"Group {group.id}", group.title), ""]
            out += [_render_task(task) for task in group.tasks]
            out.append("")
    return "\n".join(out)


def _heading(level: int, label: str, title: str) -> str:
    line = f"{'#' * level} {label}: {title}" if title else f"{'#' * level} {label}"
    return f"{line} #" if line.endswith("#") else line


def _render_task(task: Task) -> str:
    box = "[x] " if task.done else ""
    head = f"- {box}**{task.id}: {task.title}**" if task.title else f"- {box}**{task.id}:**"
    if not task.text:
        return head
    if "\n" not in task.text:
        return f"{head} - {task.text}"
    body = "\n".join(f"  {line}" if line.strip() else "" for line in task.text.split("\n"))
    return f"{head}\n\n{body}\n"
