"""Coding agents: one preset per kind of agent, running one, reading what it says, its limits,
its retries and its prompt."""
