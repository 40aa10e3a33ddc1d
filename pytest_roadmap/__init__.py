"""pytest-roadmap: run a Markdown ROADMAP.md through parallel coding agents, as a pytest plugin."""

from __future__ import annotations

from pytest_roadmap.context import is_worker

__version__ = "0.1.0"

__all__ = ["__version__", "is_worker"]
