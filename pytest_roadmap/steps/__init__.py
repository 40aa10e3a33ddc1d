"""What each kind of roadmap item does when it runs: a task, a group's gate, a phase's commit."""
