"""The controlling process: progress, status files, the run lock, signals, checks before the
run, services and notifications. Only the controller writes the run's state."""
