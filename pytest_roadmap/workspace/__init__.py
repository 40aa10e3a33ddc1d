"""Where agents work and what git keeps: the repository, task worktrees, remote workers'
clones, the phase commit and the history."""
