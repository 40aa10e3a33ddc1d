"""The one place that knows xdist's internals: word from a running item to the controller,
the ``--tx`` specs, the scheduler's log. Checked against pytest-xdist 3.8.

Word from a running item reaches the controller before the item's reports.

A task that meets a usage limit must stop every other agent from starting while it
waits, and only the controller dispatches. In a serial run the controller is in the
same process: :func:`tell` calls it. Under xdist, a worker sends the message on xdist's
own ``runtest_protocol_complete`` event with the message (a dict) as its item index:
xdist's controller hands that event to the scheduler untouched
(``DSession.worker_runtest_protocol_complete`` calls ``sched.mark_test_complete``), and
:class:`pytest_roadmap.dist.scheduler.RoadmapScheduling` passes a dict on to the controller
instead of completing an item. It crosses ``--tx`` workers' channels like any event.

A message is a small dict of plain values with the key ``roadmap`` naming it. The
controller can also wake its own scheduler later (:func:`wake_later`), e.g. to look at
the machine's memory again while agents wait for room.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Mapping
from typing import Any
from typing import Protocol

import pytest

from pytest_roadmap.context import is_worker

__all__ = [
    "KEY",
    "Listener",
    "is_message",
    "silent_log",
    "tell",
    "tx_specs",
    "wake_later",
    "worker_count",
]

KEY = "roadmap"
CONTROLLER = "roadmap-controller"
_channel_key = pytest.StashKey[Any]()


class Listener(Protocol):
    """The controller's side."""

    def on_message(self, message: Mapping[str, Any]) -> None: ...


def is_message(value: object) -> bool:
    """True for a message riding an item index."""
    return isinstance(value, dict) and isinstance(value.get(KEY), str)


def tell(config: pytest.Config, message: Mapping[str, Any]) -> None:
    """Send ``message`` (it must have the key ``roadmap``) to the controller."""
    assert isinstance(message.get(KEY), str)
    if not is_worker(config):
        listener: Listener | None = config.pluginmanager.get_plugin(CONTROLLER)
        if listener is not None:
            capture = config.pluginmanager.get_plugin("capturemanager")
            # mid-test, output is captured: the controller's lines must reach the terminal
            with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
                listener.on_message(message)
        return
    interactor = _interactor(config)
    if interactor is not None:
        interactor.sendevent("runtest_protocol_complete", item_index=dict(message), duration=0.0)


def _interactor(config: pytest.Config) -> Any:
    """xdist's ``WorkerInteractor`` of this worker (it registers itself as a plugin)."""
    found = config.stash.get(_channel_key, None)
    if found is None:
        for plugin in config.pluginmanager.get_plugins():
            if type(plugin).__name__ == "WorkerInteractor" and hasattr(plugin, "sendevent"):
                found = plugin
                break
        config.stash[_channel_key] = found
    return found


def wake_later(config: pytest.Config, seconds: float) -> threading.Timer | None:
    """On the xdist controller: have the scheduler look again in ``seconds`` (an empty
    message on xdist's event queue), though no worker says anything meanwhile."""
    session = config.pluginmanager.get_plugin("dsession")
    queue = getattr(session, "queue", None)
    if queue is None:
        return None
    event = {"node": None, "item_index": {KEY: "wake"}, "duration": 0.0}
    timer = threading.Timer(seconds, queue.put, args=(("runtest_protocol_complete", event),))
    timer.daemon = True
    timer.start()
    return timer


def tx_specs(config: pytest.Config) -> list[Any]:
    """execnet's ``XSpec`` of each worker that ``-n``/``--tx`` start."""
    from execnet import XSpec
    from xdist.workermanage import parse_tx_spec_config

    return [XSpec(tx) for tx in parse_tx_spec_config(config)]


def worker_count(config: pytest.Config) -> int:
    """How many xdist workers the run starts (1 without xdist)."""
    numprocesses = getattr(config.option, "numprocesses", None)
    if not numprocesses and getattr(config.option, "tx", None):
        return len(tx_specs(config))
    return int(numprocesses) if isinstance(numprocesses, int) and numprocesses > 0 else 1


def silent_log() -> Any:
    """A stand-in for the log xdist gives its schedulers (one that prints nothing)."""
    from xdist.remote import Producer

    return Producer("roadmapsched", enabled=False)
