"""A gate's commands side by side: up to ``jobs`` at once, in stages split by order barriers.

A line ``---`` among the gate commands is an order barrier: everything before it finishes
first (so ``build`` can wait for the checks). Within a stage, with ``jobs`` 1, the commands
run one after another and the first failure stops the gate, as
:func:`~pytest_roadmap.agents.shell.run_commands` does; with more, up to ``jobs`` run at
once, each with its own output, and every command of the stage runs to its end. A stage
with a failure is the last. Each command's output goes to its own file first, then into
the gate's log, whole, one after another: never interleaved. No pytest here.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pytest_roadmap.agents.run import TAIL_BYTES
from pytest_roadmap.agents.run import TAIL_LINES
from pytest_roadmap.agents.shell import CommandResult
from pytest_roadmap.agents.shell import run_commands
from pytest_roadmap.process import kill_tree
from pytest_roadmap.process import launch

__all__ = ["BARRIER", "commands_of", "failures_text", "run_gate", "stages"]

BARRIER = "---"
#: seconds between looks at the running commands
POLL = 0.05
KILL_GRACE = 5.0


def stages(commands: Sequence[str]) -> list[list[str]]:
    """The commands in stages: the barrier lines split them; empty stages are dropped."""
    found: list[list[str]] = [[]]
    for command in commands:
        if command.strip() == BARRIER:
            found.append([])
        else:
            found[-1].append(command)
    return [stage for stage in found if stage]


def commands_of(commands: Sequence[str]) -> list[str]:
    """The commands without the barrier lines."""
    return [command for stage in stages(commands) for command in stage]


def run_gate(
    commands: Sequence[str], cwd: Path, log: Path, timeout: float, jobs: int
) -> list[CommandResult]:
    """Run the gate's commands, stage after stage; the results of those that ran."""
    results: list[CommandResult] = []
    for stage in stages(commands):
        if jobs == 1 or len(stage) == 1:
            done = run_commands(stage, cwd, log, timeout)
        else:
            done = _side_by_side(stage, cwd, log, timeout, jobs)
        results += done
        if not all(result.ok for result in done):
            break
    return results


@dataclass
class _Running:
    index: int
    command: str
    log: Path
    proc: subprocess.Popen[bytes]
    started: float  # time.monotonic()
    timed_out: bool = False


def _side_by_side(
    stage: Sequence[str], cwd: Path, log: Path, timeout: float, jobs: int
) -> list[CommandResult]:
    """Up to ``jobs`` commands at once; each ends, fails or times out on its own."""
    waiting = list(enumerate(stage))
    running: list[_Running] = []
    done: dict[int, CommandResult] = {}
    try:
        while waiting or running:
            while waiting and len(running) < jobs:
                index, command = waiting.pop(0)
                running.append(_start(index, command, cwd, log))
            time.sleep(POLL)
            for job in list(running):
                if _finished(job, timeout):
                    running.remove(job)
                    done[job.index] = _result(job)
    except BaseException:
        for job in running:
            with contextlib.suppress(BaseException):
                kill_tree(job.proc.pid, 0)
        raise
    finally:
        _gather(log, stage, done)
    return [done[index] for index in sorted(done)]


def _own_log(log: Path, index: int) -> Path:
    return log.with_name(f"{log.stem}.cmd{index + 1}{log.suffix}")


def _start(index: int, command: str, cwd: Path, log: Path) -> _Running:
    own = _own_log(log, index)
    own.parent.mkdir(parents=True, exist_ok=True)
    argv, preexec = launch(("/bin/sh", "-c", command), os.environ)
    with open(own, "wb") as out:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=preexec,  # noqa: PLW1509 - a single prctl call, async-signal-safe
        )
    return _Running(index, command, own, proc, time.monotonic())


def _finished(job: _Running, timeout: float) -> bool:
    """True once the command exited (or was ended: over ``timeout``)."""
    if job.proc.poll() is not None:
        return True
    if timeout > 0 and time.monotonic() - job.started > timeout:
        job.timed_out = True
        kill_tree(job.proc.pid, KILL_GRACE)
        job.proc.wait()
        return True
    return False


def _result(job: _Running) -> CommandResult:
    duration = time.monotonic() - job.started
    exit_code = None if job.timed_out else job.proc.returncode
    return CommandResult(job.command, exit_code, job.timed_out, duration, _tail(job.log))


def _tail(path: Path) -> str:
    try:
        with open(path, "rb") as file:
            file.seek(max(0, path.stat().st_size - TAIL_BYTES))
            text = file.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-TAIL_LINES:])


def _gather(log: Path, stage: Sequence[str], done: dict[int, CommandResult]) -> None:
    """Append each command's own output to the gate's log, whole, in the stage's order."""
    with open(log, "ab") as out:
        for index, command in enumerate(stage):
            own = _own_log(log, index)
            if not own.exists():
                continue
            result = done.get(index)
            end = "interrupted" if result is None else _ending(result)
            out.write(f"=== gate command {index + 1}: {command}\n".encode())
            out.write(own.read_bytes())
            out.write(f"\n=== gate command {index + 1}: {end}\n".encode())
            own.unlink()


def _ending(result: CommandResult) -> str:
    how = "timed out" if result.timed_out else f"exit {result.exit_code}"
    return f"{how} after {result.duration:.1f}s"


def failures_text(failed: Sequence[CommandResult], how: Callable[[CommandResult], str]) -> str:
    """Every failed command and the end of its own output, one after another."""
    return "\n\n".join(
        f"--- '{result.command}' {how(result)}; the end of its output:\n{result.tail.strip()}"
        for result in failed
    )
