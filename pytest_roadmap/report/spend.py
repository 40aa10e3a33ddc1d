"""The summary's view of the models: the model column, and the cost of each model."""

from __future__ import annotations

from collections.abc import Iterable

from pytest_roadmap.model.facts import StepFacts
from pytest_roadmap.text import dollars
from pytest_roadmap.text import fit

__all__ = ["cost_by_model", "model_cell", "model_of", "model_width"]

#: the model column's widest
MODEL_WIDTH = 18


def model_of(facts: StepFacts) -> str:
    """The model a task's agent used, or ''."""
    return (facts.agent.model or "") if facts.agent is not None else ""


def model_width(steps: Iterable[StepFacts]) -> int:
    """The model column's width; 0 (no column) when no agent said its model."""
    widest = max((len(model_of(facts)) for facts in steps), default=0)
    return min(MODEL_WIDTH, max(widest, len("model"))) if widest else 0


def model_cell(text: str, width: int) -> str:
    """A cell of the model column and its gap ('' without the column)."""
    return f"{fit(text, width):<{width}}  " if width else ""


def cost_by_model(tasks: Iterable[StepFacts]) -> list[str]:
    """``cost by model: claude-haiku-4-5 $0.0120 (2 tasks), …``; none when no model is known."""
    costs_of: dict[str, list[float]] = {}
    for facts in tasks:
        model = model_of(facts)
        if model:
            costs_of.setdefault(model, []).append(facts.cost_usd or 0.0)
    parts = [
        f"{model} {dollars(sum(costs))} ({len(costs)} task{'s' * (len(costs) != 1)})"
        for model, costs in sorted(costs_of.items())
    ]
    return [f"cost by model: {', '.join(parts)}"] if parts else []
