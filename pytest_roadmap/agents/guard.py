"""Destructive git commands refused to Claude Code in the shared tree.

Claude Code's permission rules hold under ``--permission-mode bypassPermissions``
(checked with the CLI 2.1.328: ``--settings`` with ``permissions.deny`` refuses a matching
Bash command, alone or inside ``a && b``, and lists it in the result's
``permission_denials``). The rules match command prefixes, so ``git -C dir clean`` or
``git push origin main --force`` get through: the snapshots and restores of the shared
tree (see :mod:`pytest_roadmap.control.guard`) stay the backstop for every agent.
"""

from __future__ import annotations

import json

from pytest_roadmap.settings import Settings

#: the git commands refused, as the prefixes Claude Code matches
DESTRUCTIVE_GIT = (
    "git reset",
    "git checkout --",
    "git checkout .",
    "git restore",
    "git clean",
    "git stash",
    "git switch",
    "git rebase",
    "git push --force",
    "git push -f",
    "git commit --amend",
)


def deny_rules() -> list[str]:
    """Claude Code permission rules refusing :data:`DESTRUCTIVE_GIT`."""
    return [f"Bash({command}:*)" for command in DESTRUCTIVE_GIT]


def guard_args(settings: Settings) -> tuple[str, ...]:
    """``--settings`` with the deny rules, in the shared tree unless the allow destructive
    git setting is on."""
    if settings.isolation != "shared" or settings.allow_destructive_git:
        return ()
    return ("--settings", json.dumps({"permissions": {"deny": deny_rules()}}))
