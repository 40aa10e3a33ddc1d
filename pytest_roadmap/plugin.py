"""pytest hooks of pytest-roadmap: options, configuration, collection, fixtures.

Nothing here acts unless a roadmap is given; heavy imports wait until then.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Generator
from collections.abc import Iterator
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

import pytest

from pytest_roadmap import settings as settings_mod
from pytest_roadmap.channel import worker_count
from pytest_roadmap.context import RoadmapRun
from pytest_roadmap.context import is_worker
from pytest_roadmap.context import run_key

if TYPE_CHECKING:
    from pytest_roadmap.agents.run import AgentCommand
    from pytest_roadmap.control.controller import RoadmapController
    from pytest_roadmap.control.services import Services
    from pytest_roadmap.model.plan import Step
    from pytest_roadmap.model.roadmap import Group
    from pytest_roadmap.model.roadmap import Phase
    from pytest_roadmap.model.roadmap import Task
    from pytest_roadmap.settings import Settings

controller_key: pytest.StashKey[RoadmapController] = pytest.StashKey()
services_key: pytest.StashKey[Services] = pytest.StashKey()
DEFAULT_MAX_PARALLEL_AGENTS = 4


def pytest_addoption(parser: pytest.Parser) -> None:
    settings_mod.add_options(parser)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from pytest_roadmap import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


@pytest.hookimpl(trylast=True)
def pytest_roadmap_agent_command(
    config: pytest.Config,
    step: Step,
    task: Task,
    prompt: str,
    log: Path,
    cwd: Path,
    resume: str | None,
) -> AgentCommand:
    """The preset chosen with ``settings.agent``, when no conftest.py or plugin answered."""
    from pytest_roadmap.agents.presets import preset_command

    settings = config.stash[run_key].settings
    return preset_command(settings, step, prompt, log, cwd, resume)


def pytest_cmdline_main(config: pytest.Config) -> None:
    """``--tx`` distributes a roadmap run as ``-n`` does."""
    if settings_mod.given_roadmap(config) and getattr(config.option, "tx", None):
        from pytest_roadmap.dist.nodes import prepare_args

        prepare_args(config)


def active(config: pytest.Config) -> bool:
    """True when this pytest run runs a roadmap."""
    return run_key in config.stash


def pytest_configure(config: pytest.Config) -> None:
    if not settings_mod.given_roadmap(config):
        return
    from pytest_roadmap.control import preflight
    from pytest_roadmap.control.state import StatusFiles
    from pytest_roadmap.control.state import load_completion
    from pytest_roadmap.dist import nodes as remote
    from pytest_roadmap.model.load import ParsedCache
    from pytest_roadmap.model.load import load_roadmap
    from pytest_roadmap.model.plan import Plan
    from pytest_roadmap.model.plan import Progress
    from pytest_roadmap.model.plan import largest_group
    from pytest_roadmap.model.records import MemoryCache
    from pytest_roadmap.model.records import TaskRecords
    from pytest_roadmap.model.roadmap import RoadmapError

    given = remote.worker_roadmap(config) or settings_mod.given_roadmap(config)
    assert given is not None
    path = Path(given).absolute()
    cache = getattr(config, "cache", None)  # None with -p no:cacheprovider
    parsed = ParsedCache(cache.mkdir("roadmap-parsed")) if cache is not None else None
    try:
        with gc_paused():
            roadmap = load_roadmap(given, parsed)
    except RoadmapError as exc:
        raise pytest.UsageError(str(exc)) from None
    unknown = settings_mod.unknown_front_matter(roadmap.settings)
    if unknown:
        known = ", ".join(settings_mod.front_matter_keys())
        raise pytest.UsageError(
            f"{roadmap.path}:1: unknown setting {unknown[0]!r} in front matter (known: {known})"
        )
    settings = remote.adjust(config, settings_mod.resolve(config, path, roadmap.settings))
    controller = not is_worker(config)
    if controller:
        preflight.check(config, settings)
    from pytest_roadmap.control import lock
    from pytest_roadmap.control import signals
    from pytest_roadmap.report.redact import SecretFilter

    # the run lock, before any status file is read for completion or written
    config.pluginmanager.register(SecretFilter(), "roadmap-secret-filter")
    if runs_agents(config, settings):
        if controller:
            lock.take(config, settings)
        signals.install(config, controller)
    status = StatusFiles(settings.status_dir, settings.project_dir)
    records = TaskRecords(cache if cache is not None else MemoryCache(), path.name)
    from dataclasses import replace

    from pytest_roadmap.workspace.history import completed_in_history
    from pytest_roadmap.workspace.phase_commit import has_unpushed

    # commits saying groups are complete count too (unless on redo; the status view
    # shows what is recorded)
    redo = settings.redo and not settings.status_only
    history = None if redo else completed_in_history(settings.project_dir, roadmap)
    completion = load_completion(roadmap, status, records, redo, history)
    if settings.push and has_unpushed(settings.project_dir):
        completion = replace(completion, unpushed=True)
    with gc_paused():
        plan = Plan.build(roadmap, settings.phases, completion)
    run = RoadmapRun(settings, roadmap, plan, records=records)
    config.stash[run_key] = run
    # The roadmap is the only collection root: the project's own tests stay out.
    config.args[:] = [str(path)]
    if settings.status_only:
        from pytest_roadmap.report.status import StatusView

        config.pluginmanager.register(StatusView(config, run, completion.groups), "roadmap-status")
        return
    if controller:
        from pytest_roadmap.control.controller import RoadmapController

        _fit_workers(config, largest_group(plan))
        run.progress = Progress(plan)
        ctl = RoadmapController(config, run, status, records)
        config.stash[controller_key] = ctl
        config.pluginmanager.register(ctl, "roadmap-controller")
        if ctl.writes:
            from pytest_roadmap.resources import Monitor

            run.monitor = Monitor()
        if settings.notify and ctl.writes:
            from pytest_roadmap.control.notify import Notifier

            ctl.notifier = Notifier(settings.notify, settings.project_dir, settings.notify_timeout)
            config.pluginmanager.register(ctl.notifier, "roadmap-notify")
        from pytest_roadmap.report.summary import RunSummary

        config.pluginmanager.register(RunSummary(config, run), "roadmap-summary")
        from pytest_roadmap.control import tree_guard

        tree_guard.install(config, run)
        from pytest_roadmap.control.pushes import PushReport

        config.pluginmanager.register(PushReport(config, run), "roadmap-pushes")
        from pytest_roadmap.control.services import Services

        services = config.stash[services_key] = Services(config, run)
        config.pluginmanager.register(services, "roadmap-services")
        config.pluginmanager.register(remote.LogReceiver(settings.log_dir), "roadmap-logs")
        if not (settings.dry_run or config.getoption("collectonly")):
            register_html_report(config, run, cache)
        if settings.live != "off" and not (settings.dry_run or config.getoption("collectonly")):
            from pytest_roadmap.report.live import LiveView

            config.pluginmanager.register(LiveView(config, run, settings.live), "roadmap-live")


def runs_agents(config: pytest.Config, settings: Settings) -> bool:
    """True unless this is a dry run, ``--collect-only`` or the status view."""
    return not (settings.dry_run or settings.status_only or config.getoption("collectonly"))


def register_html_report(config: pytest.Config, run: RoadmapRun, cache: Any) -> None:
    """The HTML report (unless ``none``), and its section in pytest-html's report with --html."""
    with_html = config.pluginmanager.hasplugin("html") and getattr(config.option, "htmlpath", None)
    if run.settings.report is None and not with_html:
        return
    from pytest_roadmap.report.html import HtmlReport
    from pytest_roadmap.report.html import PytestHtmlSection

    report = HtmlReport(config, run, run.settings.report, cache)
    config.pluginmanager.register(report, "roadmap-html-report")
    if with_html:
        config.pluginmanager.register(PytestHtmlSection(report), "roadmap-pytest-html")


def pytest_sessionstart(session: pytest.Session) -> None:
    ctl = session.config.stash.get(controller_key, None)
    if ctl is not None:
        ctl.workers = worker_count(session.config)
        ctl.start_run()
        # once, before the first agent (xdist starts its workers after this hook)
        session.config.stash[services_key].bring_up()


def _fit_workers(config: pytest.Config, needed: int) -> None:
    """``-n N`` starts no more local workers than the largest group has tasks to run: each
    one costs a Python process, a collection and memory for nothing (``--tx`` stays)."""
    count = getattr(config.option, "numprocesses", None)
    tx = getattr(config.option, "tx", None)
    if isinstance(count, int) and needed < count and tx == ["popen"] * count:
        config.option.numprocesses = needed
        config.option.tx = ["popen"] * needed


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while the roadmap's objects are made.

    They live to the end of the run, yet each collection as their number grows walks
    them all again: for 10,000 tasks that was 0.4 s of a 2.0 s ``--collect-only``
    (measured). The first collection afterwards walks them once.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@pytest.hookimpl(wrapper=True)
def pytest_collection(session: pytest.Session) -> Generator[None, object, object]:
    """Collect the roadmap's items with the garbage collector paused (see gc_paused).

    Then what exists (the roadmap, the plan, the items: all kept to the end of the run)
    is moved out of the collector's sight with ``gc.freeze()``, so that the full
    collections at the end of the session and of the interpreter no longer walk it:
    with 10,000 tasks a cold ``--collect-only`` went from 1.9 s to 1.2 s (measured).
    A roadmap run is a pytest process of its own; run in-process (pytester's
    ``runpytest_inprocess``), this freezes the host's objects too.
    """
    if not active(session.config):
        return (yield)
    with gc_paused():
        result = yield
    gc.freeze()
    return result


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    config = parent.config
    if not active(config) or file_path != config.stash[run_key].settings.roadmap:
        return None
    from pytest_roadmap.dist.nodes import nodeid
    from pytest_roadmap.items import RoadmapFile

    # a remote worker's copy of the roadmap gets the controller's node id
    return RoadmapFile.from_parent(parent, path=file_path, nodeid=nodeid(config))


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """On xdist workers, add the dispatch pad after any deselection."""
    if not (active(config) and is_worker(config)) or not items:
        return
    from pytest_roadmap.dist.scheduler import PAD_NAME
    from pytest_roadmap.items import PadItem

    file_node = items[0].parent
    while file_node is not None and not isinstance(file_node, pytest.File):
        file_node = file_node.parent
    assert file_node is not None
    items.append(PadItem.from_parent(file_node, name=PAD_NAME))


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """The call report of a roadmap item carries the spans of its timeline.

    The innermost wrapper (``trylast``): the secret filter, outside it, redacts their notes.
    """
    report = yield
    if call.when == "call" and active(item.config):
        from pytest_roadmap.segments import attach

        attach(item, report)
    return report


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
    """The dispatch pad does nothing and reports nothing."""
    from pytest_roadmap.dist.scheduler import PAD_NAME

    return True if item.name == PAD_NAME and active(item.config) else None


def pytest_report_header(config: pytest.Config) -> str | None:
    if not active(config):
        return None
    run = config.stash[run_key]
    settings = run.settings
    tasks = sum(1 for _ in run.roadmap.tasks())
    groups = sum(len(p.groups) for p in run.roadmap.phases)
    from pytest_roadmap.agents.presets import describe

    agent = describe(settings)
    mode = ", dry run" if settings.dry_run else ""
    return (
        f"roadmap: {settings.roadmap.name}: {len(run.roadmap.phases)} phases, {groups} groups, "
        f"{tasks} tasks; agent: {agent}; task timeout {settings.task_timeout:g}s{mode}"
    )


def pytest_report_collectionfinish(
    config: pytest.Config, start_path: Path, items: Sequence[pytest.Item]
) -> list[str]:
    """``--collect-only`` lists the checks of the collected tasks."""
    if not (active(config) and config.getoption("collectonly")):
        return []
    from pytest_roadmap.items import TaskItem
    from pytest_roadmap.steps.checks import collect_lines

    tasks = [item.step.task for item in items if isinstance(item, TaskItem) and item.step.task]
    return collect_lines(config.stash[run_key].settings, tasks)


# -- fixtures a conftest.py may override ------------------------------------------


@pytest.fixture
def roadmap_phase(request: pytest.FixtureRequest) -> Phase:
    """The phase of the gate being run."""
    phase: Phase = request.node.step.phase
    return phase


@pytest.fixture
def roadmap_group(request: pytest.FixtureRequest) -> Group:
    """The group of the gate being run."""
    group: Group | None = request.node.step.group
    assert group is not None
    return group


@pytest.fixture
def roadmap_gate_commands(request: pytest.FixtureRequest) -> Sequence[str]:
    """The command lines of a group's gate; override it in conftest.py to change them."""
    from pytest_roadmap.steps.gate import default_gates

    settings = request.config.stash[run_key].settings
    if settings.gates is not None:
        return settings.gates
    return default_gates(settings.project_dir).commands


# -- xdist hooks: optional, so that ``-p no:xdist`` still works ------------------------


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """``-n auto`` means MAX_PARALLEL_AGENTS agents (default 4)."""
    if not settings_mod.given_roadmap(config) or config.option.numprocesses != "auto":
        return None
    value = os.environ.get("MAX_PARALLEL_AGENTS", "")
    if not value:
        return DEFAULT_MAX_PARALLEL_AGENTS
    try:
        return max(1, int(value))
    except ValueError:
        raise pytest.UsageError(
            f"invalid MAX_PARALLEL_AGENTS {value!r}: give a whole number of agents"
        ) from None


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Barrier scheduling for roadmap runs."""
    ctl = config.stash.get(controller_key, None)
    if ctl is None:
        return None
    from pytest_roadmap.dist.scheduler import RoadmapScheduling

    run = config.stash[run_key]
    assert run.progress is not None
    from pytest_roadmap.dist.nodes import BasePusher

    pusher = BasePusher(config, run.settings)
    memory = None
    if run.settings.memfree is not None:
        from pytest_roadmap.resources import MemoryGuard

        memory = MemoryGuard(run.settings.memfree)
    return RoadmapScheduling(
        config, run.progress, run.steps, ctl, log, before_send=pusher, memory=memory
    )


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """Tell each worker how to work outside the controller's repository."""
    if active(node.config) and not is_worker(node.config):
        from pytest_roadmap.dist.nodes import configure_node

        configure_node(node.config, node)
