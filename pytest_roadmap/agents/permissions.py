"""What Claude Code may not do, as the CLI's own permission rules (one ``--settings``).

- Edit or Write the roadmap, the status directory or the groups' status pages: they are
  the orchestrator's. Always.
- Run destructive git commands (reset, checkout --, restore, clean, stash, switch,
  rebase, forced push, commit --amend) in the shared tree, where other agents' finished
  work waits uncommitted; unless the allow destructive git setting is on.

Checked with the CLI 2.1.328 against the test suite's scripted API: the rules hold under
``--permission-mode bypassPermissions``; a refused Edit or Write ends in "denied by your
permission settings", a refused Bash command (alone or inside ``a && b``) is listed in the
result's ``permission_denials``. The rules match command prefixes, so ``git -C dir clean``
gets through, and a script can still write any file: the run's put-backs
(control/roadmap_guard.py, control/tree_guard.py) stay the backstop for every agent.
"""

from __future__ import annotations

import json

from pytest_roadmap.settings import Settings

__all__ = ["DESTRUCTIVE_GIT", "STATUS_MARKDOWN", "deny_rules", "permission_args"]

#: the groups' status pages, in the project's directory (control/state.py)
STATUS_MARKDOWN = "PHASE*-GROUP-*-STATUS.md"

#: the git commands refused in the shared tree, as the prefixes Claude Code matches
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


def _orchestrator_files(settings: Settings) -> list[str]:
    """Edit and Write rules for the roadmap, the status directory and the status pages
    (paths relative to the project; a file outside it cannot be named)."""
    rules = []
    for path, pattern in ((settings.roadmap, ""), (settings.status_dir, "/**")):
        try:
            relative = path.absolute().relative_to(settings.project_dir.absolute()).as_posix()
        except ValueError:
            continue
        if relative != ".":
            rules += [f"Edit(./{relative}{pattern})", f"Write(./{relative}{pattern})"]
    return [*rules, f"Edit(./{STATUS_MARKDOWN})", f"Write(./{STATUS_MARKDOWN})"]


def deny_rules(settings: Settings) -> list[str]:
    """Every rule the run's Claude Code agents get."""
    rules = _orchestrator_files(settings)
    if settings.isolation == "shared" and not settings.allow_destructive_git:
        rules += [f"Bash({command}:*)" for command in DESTRUCTIVE_GIT]
    return rules


def permission_args(settings: Settings) -> tuple[str, ...]:
    """``--settings '{"permissions": {"deny": [...]}}'``."""
    return ("--settings", json.dumps({"permissions": {"deny": deny_rules(settings)}}))
