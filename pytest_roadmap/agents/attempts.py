"""One agent step run until it is done: retries, waits for usage limits, sessions continued.

A task's agent (or a gate's repair agent) may end without being done for reasons that
are not the task's: the API was overloaded (a transient failure: retried with backoff,
``settings.retries``), the agent went silent (ended after ``settings.idle_timeout``,
then retried the same way), or the account met its usage limit. A usage limit is no
failure and no retry: the controller is told (no other agent starts meanwhile), the step
waits for the reset and continues its session; a reset further away than
``settings.limit_wait`` allows stops the run instead. Each later attempt continues the
earlier one's session when it had one.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import pytest

from pytest_roadmap import channel
from pytest_roadmap import segments
from pytest_roadmap.agents import limits
from pytest_roadmap.agents import models
from pytest_roadmap.agents import stagger
from pytest_roadmap.agents.limits import UsageLimit
from pytest_roadmap.agents.presets import command_for
from pytest_roadmap.agents.prompt import CONTINUE_TEMPLATE
from pytest_roadmap.agents.prompt import prompt_values
from pytest_roadmap.agents.prompt import render
from pytest_roadmap.agents.run import AgentCommand
from pytest_roadmap.agents.run import run_agent
from pytest_roadmap.agents.stream import AgentFailure
from pytest_roadmap.agents.stream import AgentResult
from pytest_roadmap.context import is_worker
from pytest_roadmap.context import run_key
from pytest_roadmap.model.plan import Step
from pytest_roadmap.model.usage import WindowUsage
from pytest_roadmap.paths import shown

__all__ = ["LIMIT_REASON", "Attempts", "continue_prompt"]

LIMIT_REASON = "the account's usage limit stopped it"
WAIT_SLICE = 60.0  # seconds of one sleep while waiting: the wall clock is checked between


def continue_prompt(config: pytest.Config, step: Step, reason: str) -> str:
    """The short prompt that continues an unfinished session of ``step``."""
    assert step.group is not None and step.task is not None
    roadmap = config.stash[run_key].settings.roadmap.name
    values = prompt_values(roadmap, step.phase, step.group, step.task)
    values["reason"] = reason
    return render(CONTINUE_TEMPLATE, values)


@dataclass
class Attempts:
    """Runs the agent of ``step`` for ``item`` until it is done or cannot be."""

    item: pytest.Item
    step: Step
    log: Path
    retries: int
    cost: float = 0.0
    retried: int = 0
    limit_waited: float = 0.0
    limit: UsageLimit | None = None
    peak_rss: int = 0  # bytes: the largest process tree of any attempt
    #: the failure reason of each retry, in order
    retry_reasons: list[str] = field(default_factory=list)
    #: the model of the last attempt (None: the agent's default)
    model: str | None = None

    def run(self, command: AgentCommand) -> tuple[AgentResult, AgentFailure | None]:
        """Run ``command``, then as many later attempts as it takes."""
        config = self.item.config
        settings = config.stash[run_key].settings
        assert self.step.task is not None
        task_id = self.step.task.id
        after_wait = False
        while True:
            if is_worker(config):
                waited = stagger.wait_for_slot(settings.log_dir, settings.stagger)
                if waited > 0:
                    now = time.time()
                    segments.record(self.item, "stagger_wait", now - waited, now)
            started = time.time()
            self.model = command.model
            result = run_agent(
                command,
                self.log,
                settings.task_timeout,
                idle_timeout=settings.idle_timeout,
                on_limit_warning=self._warn,
                on_usage=self._usage,
            )
            self.cost += result.cost_usd or 0.0
            self.peak_rss = max(self.peak_rss, result.peak_rss or 0)
            failure = result.failure(task_id, settings.task_timeout)
            note = failure.reason if failure is not None else "passed"
            segments.record(self.item, "agent", started, time.time(), note)
            limit = result.usage_limit
            if limit is not None:
                self.limit = limit
                now = time.time()
                plan = limits.plan_wait(
                    limit,
                    now,
                    settings.limit_wait,
                    settings.limit_poll,
                    self.limit_waited,
                    again=after_wait,
                )
                if plan.until is None:
                    assert plan.stop is not None
                    return result, AgentFailure(plan.stop, systemic=False)
                self._wait(plan.until, limit, result)
                command = self._next(command, result, LIMIT_REASON)
                after_wait = True
                continue
            after_wait = False
            if failure is None or failure.systemic:
                return result, failure
            if not result.transient:
                escalated = self._escalated(command, result, failure.reason)
                if escalated is None:
                    return result, failure
                command = escalated
                continue
            if self.retried >= self.retries:
                return result, failure
            self.retried += 1
            self.retry_reasons.append(failure.reason)
            with segments.span(self.item, "retry_wait"):
                time.sleep(settings.retry_backoff * 2 ** (self.retried - 1))
            command = self._next(command, result, failure.reason)

    def properties(self) -> list[tuple[str, object]]:
        """What the attempts add to the item's report properties."""
        props: list[tuple[str, object]] = [
            (f"retry_{number}_reason", reason)
            for number, reason in enumerate(self.retry_reasons, 1)
        ]
        if self.retried:
            props.append(("retries", self.retried))
        if self.peak_rss:
            props.append(("peak_rss_mb", round(self.peak_rss / 2**20, 1)))
        if self.limit is not None:
            props.append(("limit_type", self.limit.kind or "unknown"))
            props.append(("limit_wait_s", round(self.limit_waited, 1)))
        return props

    def _next(self, command: AgentCommand, result: AgentResult, reason: str) -> AgentCommand:
        """The next attempt: the same session continued, else the same command again."""
        session = result.session_id
        if not session:
            return command
        prompt = continue_prompt(self.item.config, self.step, reason)
        return command_for(
            self.item.config,
            self.step,
            prompt,
            self.log,
            resume=session,
            cwd=command.cwd,
            model=command.model,
        )

    def _escalated(
        self, command: AgentCommand, result: AgentResult, reason: str
    ) -> AgentCommand | None:
        """After a failed round: its session continued on the next model of the escalation
        setting's list; None when there is none (or no session to continue)."""
        settings = self.item.config.stash[run_key].settings
        model = models.next_round(settings, self.step, command.model)
        if model is None or not result.session_id:
            return None
        prompt = continue_prompt(self.item.config, self.step, f"{reason} (now on {model})")
        return command_for(
            self.item.config,
            self.step,
            prompt,
            self.log,
            resume=result.session_id,
            cwd=command.cwd,
            model=model,
        )

    def _wait(self, until: float, limit: UsageLimit, result: AgentResult) -> None:
        """Tell the controller, sleep until ``until`` (epoch), tell it again."""
        config = self.item.config
        settings = config.stash[run_key].settings
        message: dict[str, Any] = {
            channel.KEY: "limit",
            "step": self.step.local_id,
            "kind": limit.kind,
            "resets_at": limit.resets_at,
            "until": until,
            "text": limit.text,
            "log": shown(self.log, settings.project_dir),
        }
        if result.session_id:
            message["session_id"] = result.session_id
        channel.tell(config, message)
        start = time.time()
        try:
            while (left := until - time.time()) > 0:
                time.sleep(min(left, WAIT_SLICE))
        except BaseException as exc:  # Ctrl-C: the controller keeps the session for next time
            with contextlib.suppress(Exception):
                exc.agent_result = result  # type: ignore[attr-defined]
            raise
        finally:
            end = time.time()
            self.limit_waited += end - start
            segments.record(self.item, "limit_wait", start, end, limit.label)
        channel.tell(config, {channel.KEY: "limit_over", "step": self.step.local_id})

    def _warn(self, warning: UsageLimit) -> None:
        channel.tell(
            self.item.config,
            {channel.KEY: "limit_warning", "kind": warning.kind, "resets_at": warning.resets_at},
        )

    def _usage(self, windows: tuple[WindowUsage, ...]) -> None:
        message = {"windows": [window.as_dict() for window in windows]}
        channel.tell(self.item.config, {channel.KEY: "usage", **message})
