"""The summary's view of the models: the model column, and the cost of each model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pytest_roadmap.model.facts import StepFacts
from pytest_roadmap.text import dollars
from pytest_roadmap.text import fit

if TYPE_CHECKING:
    from pytest_roadmap.report.summary import StepResult

__all__ = ["cost_by_model", "model_cell", "model_of", "model_width"]

#: the model column's widest
MODEL_WIDTH = 18


def model_of(facts: StepFacts) -> str:
    """The model a task's agent used, or ''."""
    return (facts.agent.model or "") if facts.agent is not None else ""


def model_width(results: Sequence[StepResult]) -> int:
    """The model column's width; 0 (no column) when no agent said its model."""
    widest = max((len(model_of(r.facts)) for r in results), default=0)
    return min(MODEL_WIDTH, max(widest, len("model"))) if widest else 0


def model_cell(text: str, width: int) -> str:
    """A cell of the model column and its gap ('' without the column)."""
    return f"{fit(text, width):<{width}}  " if width else ""


def cost_by_model(results: Sequence[StepResult]) -> list[str]:
    """``cost by model: claude-haiku-4-5 $0.0120 (2 tasks), …``; none when no model is known."""
    tasks: dict[str, list[float]] = {}
    for result in results:
        model = model_of(result.facts)
        if model and result.step.kind == "task":
            tasks.setdefault(model, []).append(result.facts.cost_usd or 0.0)
    parts = [
        f"{model} {dollars(sum(costs))} ({len(costs)} task{'s' * (len(costs) != 1)})"
        for model, costs in sorted(tasks.items())
    ]
    return [f"cost by model: {', '.join(parts)}"] if parts else []
