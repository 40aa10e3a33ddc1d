from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from pytest_roadmap.model.load import load_roadmap
from pytest_roadmap.model.roadmap import Group
from pytest_roadmap.model.roadmap import Phase
from pytest_roadmap.model.roadmap import Roadmap
from pytest_roadmap.model.roadmap import RoadmapError
from pytest_roadmap.model.roadmap import Task
from pytest_roadmap.model.roadmap import parse_roadmap
from pytest_roadmap.model.roadmap import render_roadmap


def md(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def parse(text: str) -> Roadmap:
    return parse_roadmap(md(text), "ROADMAP.md")


def tasks(roadmap: Roadmap) -> list[Task]:
    return [task for _, _, task in roadmap.tasks()]


def error(text: str) -> str:
    with pytest.raises(RoadmapError) as info:
        parse(text)
    return str(info.value)


# --- tables ---


def test_table_rows_with_status_column() -> None:
    roadmap = parse(
        """
        # Project

        ## Phase 1: Foundation

        ### Group A (Parallel)

        | Task | Description | Files | Status |
        |------|-------------|-------|--------|
        | **A1: Database schema** | Create tables | `db/schema.sql` | ✅ Done |
        | **A2**: API skeleton | Express app \\| routes | | Pending |
        | **A3** Config loader | env vars | | done |
        | **A4: Logging** | pino | | **Complete** |
        | **A5: Metrics** ✅ | prom | | |
        | Notes | not a task | | |
        """
    )
    got = tasks(roadmap)
    assert [t.id for t in got] == ["A1", "A2", "A3", "A4", "A5"]
    assert [t.title for t in got] == [
        "Database schema",
        "API skeleton",
        "Config loader",
        "Logging",
        "Metrics",
    ]
    assert [t.done for t in got] == [True, False, True, True, True]
    assert got[0].text == "Description: Create tables\nFiles: `db/schema.sql`\nStatus: ✅ Done"
    assert got[1].text == "Description: Express app | routes\nStatus: Pending"
    assert [t.line for t in got] == [9, 10, 11, 12, 13]
    group = roadmap.phases[0].groups[0]
    assert (group.id, group.title, group.line) == ("A", "", 5)


def test_table_status_word_only_counts_in_status_column() -> None:
    roadmap = parse(
        """
        ## Phase 1: P

        ### Group A: G

        | Task | Notes |
        |------|-------|
        | **A1: One** | done by someone else |
        """
    )
    assert tasks(roadmap)[0].done is False


def test_table_plain_id_first_cell() -> None:
    roadmap = parse(
        """
        ## Phase 1: P

        ### Group A: G

        | ID | Task |
        |----|------|
        | A1 | Write it |
        """
    )
    (task,) = tasks(roadmap)
    assert (task.id, task.title, task.text) == ("A1", "", "Task: Write it")


# --- bullets ---


def test_bullet_forms() -> None:
    roadmap = parse(
        """
        ## Phase 1 - Bullets

        ### Group B: Auth

        Some description paragraph.

        - **B1: Login** - implement the login form
          - validate input
          - show errors
        - **B2: Logout**: clear the session
        - **B3**: Write the docs
          and more docs
        - [ ] B4: checkbox task
        - [x] B5: finished task
        - [X] **B6: Bold box** - with text
        - [ ] **B7: Open box** - with text
        - a note that is not a task
        - **Note**: not a task either
        1. **B8: Numbered** - also fine
        """
    )
    got = tasks(roadmap)
    assert [(t.id, t.title, t.text, t.done) for t in got] == [
        ("B1", "Login", "implement the login form\n- validate input\n- show errors", False),
        ("B2", "Logout", "clear the session", False),
        ("B3", "Write the docs", "and more docs", False),
        ("B4", "checkbox task", "", False),
        ("B5", "finished task", "", True),
        ("B6", "Bold box", "with text", True),
        ("B7", "Open box", "with text", False),
        ("B8", "Numbered", "also fine", False),
    ]
    assert [t.line for t in got] == [7, 10, 11, 13, 14, 15, 16, 19]
    assert roadmap.phases[0].title == "Bullets"


def test_bullet_check_mark_means_done() -> None:
    roadmap = parse(
        """
        ## Phase 1: P

        ### Group A: G

        - **A1: Shipped ✅** - text
        - **A2: Also shipped** ✅ - text
        - **A3: Not yet** - the text mentions ✅ later
        """
    )
    got = tasks(roadmap)
    assert [(t.title, t.done) for t in got] == [
        ("Shipped", True),
        ("Also shipped", True),
        ("Not yet", False),
    ]
    assert got[1].text == "text"


# --- #### headings ---


def test_heading_tasks() -> None:
    roadmap = parse(
        """
        ## Phase 2: Headings

        ### Group C - Services

        #### C1: First service
        Paragraph one.

        - list in the section
        - [ ] C9: part of C1's text, not a task

        ##### Detail
        more detail

        #### Task C2 - Second ✅

        #### C3: Third
        **Status**: ✅ Complete

        #### C4: Fourth
        Status: done

        #### C5: Fifth
        Status: pending

        ### Notes

        #### C6: ignored, not in a group
        """
    )
    got = tasks(roadmap)
    assert [(t.id, t.title, t.done, t.line) for t in got] == [
        ("C1", "First service", False, 5),
        ("C2", "Second", True, 14),
        ("C3", "Third", True, 16),
        ("C4", "Fourth", True, 19),
        ("C5", "Fifth", False, 22),
    ]
    assert got[0].text == (
        "Paragraph one.\n\n- list in the section\n"
        "- [ ] C9: part of C1's text, not a task\n\n##### Detail\nmore detail"
    )
    assert got[1].text == ""
    assert got[2].text == "**Status**: ✅ Complete"
    group = roadmap.phases[0].groups[0]
    assert (group.id, group.title) == ("C", "Services")


def test_heading_task_section_ends_at_level_one_heading() -> None:
    roadmap = parse(
        """
        ## Phase 1: P

        ### Group A: G

        #### A1: One
        body

        # Appendix
        - **A2: Two** - after the level-1 heading, still in group A
        """
    )
    got = tasks(roadmap)
    assert [(t.id, t.text) for t in got] == [
        ("A1", "body"),
        ("A2", "after the level-1 heading, still in group A"),
    ]


# --- phases and groups ---


def test_phase_and_group_heading_variants() -> None:
    roadmap = parse(
        """
        ## Phase 1: One
        ### Group A (Parallel)
        - **A1: a**
        ### Group B (Parallel, after A)
        - **B1: b**
        ### Group C (Parallel, after B): Titled
        - **C1: c**
        ### Group DE - Dashed
        - **D1: d**

        ## PHASE 2
        ### Group A: Second phase
        - **A2: e**

        ## phase 3 - Lower
        ### Group A
        - **A3: f**
        """
    )
    assert [(p.number, p.title, p.line) for p in roadmap.phases] == [
        (1, "One", 1),
        (2, "", 11),
        (3, "Lower", 15),
    ]
    groups = [(g.id, g.title) for g in roadmap.phases[0].groups]
    assert groups == [("A", ""), ("B", ""), ("C", "Titled"), ("DE", "Dashed")]
    assert [t.id for t in tasks(roadmap)] == ["A1", "B1", "C1", "D1", "A2", "A3"]


def test_other_headings_end_phase_and_group() -> None:
    roadmap = parse(
        """
        # Title
        - **X1: before any phase** - ignored

        ## Phase 1: One
        ### Group A: G
        - **A1: kept**
        ### Success Criteria
        - **A9: ignored** - not a group
        ## Appendix
        ### Group Z: Not in a phase
        - **Z1: ignored**
        """
    )
    assert [t.id for t in tasks(roadmap)] == ["A1"]
    assert [g.id for g in roadmap.phases[0].groups] == ["A"]


def test_setext_headings_count_only_as_phases() -> None:
    roadmap = parse(
        """
        Phase 1: Setext
        ---------------

        ### Group A: G
        - **A1: a**

        A note with an accidental rule under it
        ---
        - **A2: still in group A**
        """
    )
    assert roadmap.phases[0].title == "Setext"
    assert [t.id for t in tasks(roadmap)] == ["A1", "A2"]


def test_tasks_method_yields_phase_group_task() -> None:
    roadmap = parse(
        """
        ## Phase 1: One
        ### Group A: G
        - **A1: a**
        - **A2: b**
        """
    )
    items = list(roadmap.tasks())
    assert [(p.number, g.id, t.id) for p, g, t in items] == [(1, "A", "A1"), (1, "A", "A2")]


def test_dataclasses_are_frozen_and_hashable() -> None:
    roadmap = parse_roadmap("---\na: [1]\n---\n## Phase 1\n### Group A\n- **A1: x**\n")
    same = parse_roadmap("\n\n\n## Phase 1\n### Group A\n- **A1: x**\n")
    assert roadmap == same
    assert hash(roadmap) == hash(same)
    assert isinstance(roadmap.phases[0], Phase)
    assert isinstance(roadmap.phases[0].groups[0], Group)
    with pytest.raises(AttributeError):
        roadmap.phases[0].groups[0].tasks[0].id = "B1"  # type: ignore[misc]


# --- ids and titles ---


@pytest.mark.parametrize(
    ("line", "task_id", "title"),
    [
        ("- **A1: Title**", "A1", "Title"),
        ("- **B12: Title**", "B12", "Title"),
        ("- **AA3: Title**", "AA3", "Title"),
        ("- **A1.2: Title**", "A1.2", "Title"),
        ("- **A1-b: Title**", "A1-b", "Title"),
        ("- **A1: Say \"hi\" and 'bye'**", "A1", "Say \"hi\" and 'bye'"),
        ("- **A1: Run `make test`**", "A1", "Run `make test`"),
        ("- **A1: $(rm -rf /)**", "A1", "$(rm -rf /)"),
        ("- **A1: Ünïcödé — 日本語 🚀**", "A1", "Ünïcödé — 日本語 🚀"),
        ("- **A1: Keep a__b, 2 * 3 and `x`**", "A1", "Keep a__b, 2 * 3 and `x`"),
        ("- **A1**: *Emphasised* title", "A1", "Emphasised title"),
        ("- **A1**: _Whole title_", "A1", "Whole title"),
        ("- **A1**: Use **bold** and __init__", "A1", "Use bold and init"),
        ("#### A1: Keep `**kwargs` and `__init__`", "A1", "Keep `**kwargs` and `__init__`"),
        ("#### **A1: Bold heading**", "A1", "Bold heading"),
        ("- **A1: Keep `**kwargs`** - text", "A1", "Keep `**kwargs`"),
        ("- **A1: Odd ` tick** - text", "A1", "Odd ` tick"),
        ("- **A1: Title** ✅", "A1", "Title"),
    ],
)
def test_ids_and_titles(line: str, task_id: str, title: str) -> None:
    roadmap = parse_roadmap(f"## Phase 1\n### Group A\n{line}\n")
    (task,) = tasks(roadmap)
    assert (task.id, task.title) == (task_id, title)
    again = tasks(parse_roadmap(render_roadmap(roadmap)))
    assert [(t.id, t.title) for t in again] == [(task_id, title)]


def test_very_long_title() -> None:
    title = "x" * 20_000
    roadmap = parse_roadmap(f"## Phase 1\n### Group A\n- **A1: {title}** - text\n")
    assert tasks(roadmap)[0].title == title


@pytest.mark.parametrize(
    "bad_id",
    ["A1/../x", "A1\\x", "A1..2", "../A1", "a1", "A", "1A", "A1./x", "A1.-2", "A1é"],
)
def test_unsafe_ids_are_not_tasks(bad_id: str) -> None:
    text = f"## Phase 1\n### Group A\n- **Z9: real**\n- **{bad_id}: Title**\n"
    assert [t.id for t in tasks(parse_roadmap(text))] == ["Z9"]


# --- front matter ---


def test_front_matter_settings_and_line_numbers() -> None:
    roadmap = parse(
        """
        ---
        roadmap_task_timeout: 600
        roadmap_gate:
          - npm test
        ---
        ## Phase 1: One
        ### Group A: G
        - **A1: a**
        """
    )
    assert roadmap.settings == {"roadmap_task_timeout": 600, "roadmap_gate": ["npm test"]}
    assert roadmap.phases[0].line == 6
    assert tasks(roadmap)[0].line == 8


def test_empty_front_matter() -> None:
    roadmap = parse_roadmap("---\n---\n## Phase 1\n### Group A\n- **A1: a**\n")
    assert roadmap.settings == {}
    assert roadmap.phases[0].line == 3


def test_no_front_matter_means_empty_settings() -> None:
    assert parse_roadmap("## Phase 1\n### Group A\n- **A1: a**\n").settings == {}


def test_front_matter_not_a_mapping() -> None:
    msg = error(
        """
        ---
        - a
        - b
        ---
        ## Phase 1
        """
    )
    assert msg == "ROADMAP.md:1: front matter must be a YAML mapping"


def test_front_matter_yaml_error_has_line() -> None:
    msg = error(
        """
        ---
        roadmap_task_timeout: 600
        roadmap_gate: [npm test
        other: 1
        ---
        ## Phase 1
        """
    )
    assert msg.startswith("ROADMAP.md:4: bad front matter: ")
    assert "\n" not in msg


def test_front_matter_not_closed() -> None:
    msg = error("---\na: 1\n## Phase 1\n")
    assert msg == "ROADMAP.md:1: front matter is not closed (expected a '---' line after it)"


def test_front_matter_keys_must_be_strings() -> None:
    msg = error("---\n1: a\n---\n## Phase 1\n")
    assert msg == "ROADMAP.md:1: front matter keys must be strings (got 1)"


def test_crlf_line_endings() -> None:
    text = "---\r\na: 1\r\n---\r\n## Phase 1: One\r\n### Group A\r\n- **A1: a** - b\r\n"
    roadmap = parse_roadmap(text)
    assert roadmap.settings == {"a": 1}
    (task,) = tasks(roadmap)
    assert (task.title, task.text, task.line) == ("a", "b", 6)


# --- errors ---


def test_no_phases() -> None:
    msg = error("# Roadmap\n\n- **A1: x**\n")
    assert msg == "ROADMAP.md: no phases found (expected a heading like '## Phase 1: Title')"


def test_task_outside_group() -> None:
    msg = error(
        """
        ## Phase 1: One

        - **A1: Orphan** - no group yet

        ### Group A: G
        - **A2: x**
        """
    )
    expected = (
        "ROADMAP.md:3: task A1 is outside a group (add a '### Group A: Title' heading above it)"
    )
    assert msg == expected


@pytest.mark.parametrize(
    ("body", "line"),
    [
        ("| Task |\n|---|\n| **BC1: x** |", 4),
        ("#### BC1: x", 2),
        ("- [ ] BC1: x", 2),
    ],
)
def test_task_outside_group_other_forms(body: str, line: int) -> None:
    msg = error(f"## Phase 1\n{body}\n### Group A\n- **A1: a**\n")
    assert msg.startswith(f"ROADMAP.md:{line}: task BC1 is outside a group")
    assert msg.endswith("(add a '### Group BC: Title' heading above it)")


def test_group_without_tasks() -> None:
    msg = error(
        """
        ## Phase 1: One
        ### Group A: G
        - **A1: x**
        ### Group B: Empty
        - just a note
        """
    )
    assert msg == "ROADMAP.md:4: Phase 1 Group B has no tasks"


def test_phase_without_groups() -> None:
    msg = error(
        """
        ## Phase 1: One
        ### Group A: G
        - **A1: x**

        ## Phase 2: Nothing here
        Some text.
        """
    )
    assert msg == "ROADMAP.md:5: Phase 2 has no groups"


def test_duplicate_task_id() -> None:
    msg = error(
        """
        ## Phase 1: One
        ### Group A: G
        - **A1: x**
        ## Phase 2: Two
        ### Group A: G
        - **A2: y**
        - **A1: again**
        """
    )
    assert msg == "ROADMAP.md:7: duplicate task id A1 (first at line 3)"


def test_duplicate_group() -> None:
    msg = error(
        """
        ## Phase 1: One
        ### Group A: G
        - **A1: x**
        ### Group A: Again
        - **A2: y**
        """
    )
    assert msg == "ROADMAP.md:4: duplicate Group A in Phase 1 (first at line 2)"


def test_duplicate_phase() -> None:
    msg = error(
        """
        # Roadmap
        ## Phase 1: One
        ### Group A: G
        - **A1: x**
        ## Phase 1: Again
        ### Group B: G
        - **B1: y**
        """
    )
    assert msg == "ROADMAP.md:5: duplicate Phase 1 (first at line 2)"


def test_first_problem_in_file_order_wins() -> None:
    msg = error(
        """
        ## Phase 1: One
        ### Group A: G
        ### Group B: G
        - **A1: x**
        - **A1: y**
        """
    )
    assert msg == "ROADMAP.md:2: Phase 1 Group A has no tasks"


def test_error_uses_given_path() -> None:
    with pytest.raises(RoadmapError, match=r"^docs/plan\.md: no phases found"):
        parse_roadmap("nothing", "docs/plan.md")


# --- load_roadmap ---


def test_load_roadmap(tmp_path: Path) -> None:
    path = tmp_path / "ROADMAP.md"
    path.write_bytes("\ufeff## Phase 1: Ünï\n### Group A\n- **A1: a**\n".encode())
    roadmap = load_roadmap(path)
    assert roadmap.path == str(path)
    assert roadmap.phases[0].title == "Ünï"


def test_load_roadmap_missing(tmp_path: Path) -> None:
    path = tmp_path / "nope.md"
    with pytest.raises(RoadmapError) as info:
        load_roadmap(path)
    assert str(info.value) == f"{path}: roadmap not found"


def test_load_roadmap_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "ROADMAP.md"
    path.write_bytes(b"## Phase 1\n\xff\xfe oops\n")
    with pytest.raises(RoadmapError) as info:
        load_roadmap(str(path))
    assert str(info.value) == f"{path}: not UTF-8 text (byte 11)"


def test_load_roadmap_directory(tmp_path: Path) -> None:
    with pytest.raises(RoadmapError, match=r"^.*: cannot read roadmap \("):
        load_roadmap(tmp_path)


def test_load_roadmap_parse_error_uses_path(tmp_path: Path) -> None:
    path = tmp_path / "ROADMAP.md"
    path.write_text("## Phase 1\n", encoding="utf-8")
    with pytest.raises(RoadmapError) as info:
        load_roadmap(path)
    assert str(info.value) == f"{path}:1: Phase 1 has no groups"


# --- a roadmap shaped like the one the bash script was written for ---


def seed_roadmap() -> str:
    groups_per_phase = [5, 4, 4, 4]
    out = [
        "# Project Roadmap",
        "",
        "## Overview",
        "",
        "| Layer | Choice |",
        "|-------|--------|",
        "| Web | Next.js |",
        "",
        "---",
    ]
    number = 0
    for phase, count in enumerate(groups_per_phase, start=1):
        out += ["", f"## Phase {phase}: Phase {phase} work", "", "**Goal**: ship it", ""]
        for g in range(count):
            letter = chr(ord("A") + g)
            after = f" (Parallel, after {chr(ord('A') + g - 1)})" if g else " (Parallel)"
            out += [f"### Group {letter}{after}", ""]
            out += ["| Task | Description | Files | Status |", "|---|---|---|---|"]
            for t in range(4 if number < 40 else 3):
                number += 1
                status = "✅ Done" if number % 3 == 0 else "Pending"
                cell = f"**{letter}{phase}{t + 1}: Task {number} `src/{number}.ts`**"
                out.append(f"| {cell} | Build it | `src/{number}.ts` | {status} |")
            out.append("")
        out += ["### Success Criteria", "", "- [ ] All gates pass", "", "---"]
    return "\n".join(out) + "\n"


def test_seed_shaped_roadmap() -> None:
    roadmap = parse_roadmap(seed_roadmap())
    assert len(roadmap.phases) == 4
    assert sum(len(p.groups) for p in roadmap.phases) == 17
    all_tasks = tasks(roadmap)
    assert len(all_tasks) == 61
    assert all_tasks[0].id == "A11"
    assert all_tasks[0].title == "Task 1 `src/1.ts`"
    assert sum(t.done for t in all_tasks) == 20
    again = parse_roadmap(render_roadmap(roadmap))
    assert [(t.id, t.title, t.done) for t in tasks(again)] == [
        (t.id, t.title, t.done) for t in all_tasks
    ]


# --- render ---


def test_render_canonical_form() -> None:
    roadmap = parse(
        """
        ---
        roadmap_task_timeout: 60
        ---
        ## Phase 1: One
        ### Group A (Parallel)
        | Task | Status |
        |---|---|
        | **A1: a** | ✅ Done |
        - [ ] B9: ignored? no: same group, a bullet task
        """
    )
    assert render_roadmap(roadmap) == md(
        """
        ---
        roadmap_task_timeout: 60
        ---

        ## Phase 1: One

        ### Group A

        - [x] **A1: a** - Status: ✅ Done
        - **B9: ignored? no: same group, a bullet task**
        """
    )


def test_render_empty_titles_and_multiline_text() -> None:
    task = Task("A1", "", "first\n- sub\n\nlast", 1, False)
    roadmap = Roadmap("x.md", (Phase(3, "", 1, (Group("B", "", 1, (task,)),)),))
    text = render_roadmap(roadmap)
    assert text.startswith("## Phase 3\n\n### Group B\n\n- **A1:**\n\n  first\n  - sub\n\n  last\n")
    (back,) = tasks(parse_roadmap(text))
    assert (back.id, back.title, back.text, back.done) == ("A1", "", task.text, False)


# --- hypothesis ---

MARKDOWNISH = st.sampled_from(
    [
        "## Phase 1: P",
        "## Phase 2",
        "### Group A",
        "### Group B (Parallel, after A): T",
        "#### A1: x",
        "#### Task B2 - y ✅",
        "- **A1: t** - x",
        "- [x] A2: y",
        "- [ ] **A3**: z",
        "  - nested",
        "| **A4: t** | ✅ |",
        "|---|---|",
        "| Task | Status |",
        "Status: done",
        "---",
        "a: [",
        "> quote",
        "```",
        "",
        "#",
        "1. **A5: n**",
    ]
)

any_text = st.one_of(
    st.text(),
    st.lists(st.one_of(MARKDOWNISH, st.text(max_size=10)), max_size=30).map("\n".join),
)


@settings(max_examples=200, deadline=None)
@given(any_text)
def test_any_text_parses_or_raises_roadmap_error(text: str) -> None:
    message = ""
    try:
        roadmap = parse_roadmap(text)
    except RoadmapError as exc:
        message = str(exc)
    else:
        assert roadmap.phases
        assert all(g.tasks for p in roadmap.phases for g in p.groups)
    assert "\n" not in message
    assert message == "" or message.startswith("ROADMAP.md")


SAFE_CHARS = st.characters(
    blacklist_categories=("Cs", "Cc", "Zl", "Zp"),
    blacklist_characters="*_`\u2705\r\n",
)
titles = st.text(SAFE_CHARS, max_size=30).map(str.strip)
lines = st.text(SAFE_CHARS, max_size=20).map(str.strip)
texts = st.lists(lines, max_size=4).map(lambda ls: "\n".join(ls).strip())
upper = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=3)
id_suffixes = st.sampled_from(["", ".2", "-b", ".1-x", "-2.a"])
keys = st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12).map("roadmap_{}".format)
values = st.one_of(st.integers(), st.booleans(), st.text(SAFE_CHARS, max_size=10))


@st.composite
def roadmaps(draw: st.DrawFn) -> Roadmap:
    numbers = draw(st.lists(st.integers(0, 10**6), min_size=1, max_size=3, unique=True))
    serial = 0
    phases = []
    for number in numbers:
        groups = []
        for group_id in draw(st.lists(upper, min_size=1, max_size=3, unique=True)):
            group_tasks = []
            for _ in range(draw(st.integers(1, 3))):
                serial += 1
                task_id = f"{draw(upper)}{serial}{draw(id_suffixes)}"
                task = Task(task_id, draw(titles), draw(texts), 0, draw(st.booleans()))
                group_tasks.append(task)
            groups.append(Group(group_id, draw(titles), 0, tuple(group_tasks)))
        phases.append(Phase(number, draw(titles), 0, tuple(groups)))
    return Roadmap("ROADMAP.md", tuple(phases), draw(st.dictionaries(keys, values, max_size=3)))


def shape(roadmap: Roadmap) -> object:
    return [
        (
            p.number,
            p.title,
            [(g.id, g.title, [(t.id, t.title, t.text, t.done) for t in g.tasks]) for g in p.groups],
        )
        for p in roadmap.phases
    ]


@settings(max_examples=200, deadline=None)
@given(roadmaps())
def test_render_parse_round_trip(roadmap: Roadmap) -> None:
    back = parse_roadmap(render_roadmap(roadmap))
    assert shape(back) == shape(roadmap)
    assert back.settings == roadmap.settings
