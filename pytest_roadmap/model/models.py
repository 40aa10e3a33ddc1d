"""Which model a task's agent runs: its own, its group's, the run's; escalated after failures.

A task names its model in a ``Model`` column of its table, or a ``Model: haiku`` line in its
text; a group in its heading line (``### Group A: Docs (model: haiku)``) or a ``Model:``
line between its heading and its first task. Names are the agent's own (Claude Code's
aliases ``haiku``, ``sonnet``, ``opus``, or full model ids). No pytest here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["MODEL_NAME", "ModelError", "escalated", "group_model", "task_model"]

#: a model name as the CLIs take it: ``haiku``, ``claude-sonnet-4-5``, ``gpt-5.1-codex``
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@\[\]-]{0,99}")
_FIELD = re.compile(
    r"^[ \t>]*(?:[-*+][ \t]+)?(?:\*\*|__)?model(?:\*\*|__)?[ \t]*:[ \t]*(?:\*\*|__)?[ \t]*"
    r"(?P<value>[^\n]*?)[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)
_IN_HEADING = re.compile(r"[(\[]\s*model\s*[:=]\s*(?P<value>[^)\]]*?)\s*[)\]]", re.IGNORECASE)


class ModelError(ValueError):
    """A model name that is none: one line, naming where it was found."""


def task_model(text: str, where: str) -> str | None:
    """The model a task's text names (its ``Model`` column or field), or None."""
    found = _FIELD.search(text)
    return _checked(found["value"], where) if found else None


def group_model(heading: str, intro: Sequence[str], where: str) -> str | None:
    """The model of a group: from its heading line, else a ``Model:`` line under it."""
    found = _IN_HEADING.search(heading) or _FIELD.search("\n".join(intro))
    return _checked(found["value"], where) if found else None


def escalated(model: str | None, ladder: Sequence[str], last: str | None) -> str | None:
    """The model after a failed round that ran on ``last``: the next of ``ladder``.

    A model not on the ladder moves to its first rung; the top rung stays; no ladder
    keeps ``model``.
    """
    if not ladder:
        return model
    if last in ladder:
        return ladder[min(ladder.index(last) + 1, len(ladder) - 1)]
    return ladder[0]


def _checked(value: str, where: str) -> str:
    name = value.strip().strip("`*_").strip()
    if MODEL_NAME.fullmatch(name) is None:
        raise ModelError(f"{where}: invalid model {name!r}: give a name such as haiku or sonnet")
    return name
