"""Several machines: xdist ``--tx`` workers, and which of them are outside the repository.

The controller hands every worker (``pytest_configure_node``) the repository URL, its
project directory, host name and roadmap text. A worker whose working directory is not
inside the controller's repository (or runs on another host) is *remote*: it runs each task
in its own clone (:mod:`pytest_roadmap.workspace.clone`) and pushes the task's branch.
Gates and phase commits run on a local worker: the gate fetches the group's task branches
and merges them in roadmap order as worktree isolation does. Local workers use worktree
isolation.
"""

from __future__ import annotations

import socket
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from pytest_roadmap.channel import tx_specs
from pytest_roadmap.model.facts import ShippedLog
from pytest_roadmap.model.facts import facts_of
from pytest_roadmap.model.facts import with_facts
from pytest_roadmap.model.plan import Step
from pytest_roadmap.settings import Settings
from pytest_roadmap.settings import given_roadmap
from pytest_roadmap.settings import ini_text
from pytest_roadmap.workspace.clone import Origin
from pytest_roadmap.workspace.clone import base_ref
from pytest_roadmap.workspace.git import WorkspaceError
from pytest_roadmap.workspace.git import run_git
from pytest_roadmap.workspace.git import top_of
from pytest_roadmap.settings import flag

KEY = "roadmap_node"
LOG_LIMIT = 200_000


def remote_url(config: pytest.Config, project_dir: Path) -> str:
    """``settings.remote`` from the ini file, else the upstream remote's URL, else the repository's path."""
    value = ini_text(config, "remote")
    if value:
        return value
    top = top_of(project_dir)
    if top is None:
        return str(project_dir)
    try:
        branch = run_git(top, "symbolic-ref", "--short", "HEAD")
        name = run_git(top, "config", f"branch.{branch}.remote")
        url = run_git(top, "remote", "get-url", name)
    except WorkspaceError:
        return str(top)
    if ":" not in url and not Path(url).is_absolute():  # a relative path: from the top
        url = str((top / url).resolve())
    return url


def spec_is_remote(spec: Any, top: Path | None) -> bool:
    """What the controller can tell from a --tx spec: popen without chdir (or in the repo)."""
    if not getattr(spec, "popen", False) or getattr(spec, "via", None):
        return True
    chdir = getattr(spec, "chdir", None)
    if not chdir:
        return False
    where = Path(chdir).expanduser().resolve()
    return top is None or not where.is_relative_to(top)


def any_remote_spec(config: pytest.Config, top: Path | None) -> bool:
    if getattr(config.option, "dist", "no") == "no":
        return False
    return any(spec_is_remote(spec, top) for spec in tx_specs(config))


def prepare_args(config: pytest.Config) -> None:
    """Controller: make ``--tx`` work for roadmap runs.

    ``--tx`` alone distributes (as ``-n`` does); the roadmap option and its path are sent as one
    argument, which xdist passes on unchanged to workers in another directory.
    """
    if not given_roadmap(config) or not getattr(config.option, "tx", None):
        return
    if hasattr(config, "workerinput"):  # a worker gets --tx too; it must not distribute
        return
    if getattr(config.option, "dist", "no") == "no":
        config.option.dist = "load"
    if not any(spec_is_remote(spec, None) for spec in tx_specs(config)):
        return  # xdist passes arguments on unchanged to popen workers in this directory
    args = list(config.invocation_params.args)
    out: list[str] = []
    skip = False
    for index, arg in enumerate(args):
        if skip:
            skip = False
            continue
        if arg == flag("roadmap") and index + 1 < len(args):
            out.append(f"{arg}={args[index + 1]}")
            skip = True
        else:
            out.append(arg)
    config.invocation_params = replace(config.invocation_params, args=tuple(out))


def configure_node(config: pytest.Config, node: Any) -> None:
    """Controller: what every worker needs to know to work remotely."""
    from pytest_roadmap.context import run_key

    run = config.stash[run_key]
    settings = run.settings
    top = top_of(settings.project_dir)
    if not any_remote_spec(config, top):
        return  # every worker works in the repository, as without this module
    rootpath = Path(config.rootpath).resolve()
    try:
        nodeid = str(settings.roadmap.resolve().relative_to(rootpath))
    except ValueError:
        nodeid = settings.roadmap.name
    node.workerinput[KEY] = {
        "url": remote_url(config, settings.project_dir),
        "project_dir": str(settings.project_dir.resolve()),
        "top": str(top) if top else "",
        "host": socket.gethostname(),
        "any_remote": any_remote_spec(config, top),
        "remote": spec_is_remote(node.gateway.spec, top),
        "roadmap_name": settings.roadmap.name,
        "roadmap_text": settings.roadmap.read_text(encoding="utf-8"),
        "nodeid": nodeid,
        "author": _identity(top),
    }


def _identity(top: Path | None) -> list[str]:
    """The controller's git user.name and user.email, for clones that have none."""
    found = []
    for key in ("user.name", "user.email"):
        try:
            found.append(run_git(top, "config", key) if top else "")
        except WorkspaceError:
            found.append("")
    return found


def node_is_local(node: Any) -> bool:
    """A worker in the controller's repository (not one in another directory or host)."""
    info = getattr(node, "workerinput", {}).get(KEY)
    return not (info and info.get("remote"))


def node_rank(node: Any) -> int:
    """For gates and commits: 0 in the repository, 1 elsewhere on this host, 2 other hosts."""
    if node_is_local(node):
        return 0
    spec = getattr(getattr(node, "gateway", None), "spec", None)
    return 1 if getattr(spec, "popen", False) and not getattr(spec, "via", None) else 2


class BasePusher:
    """Controller: push HEAD as the group's base before its first task goes remote."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.pushed: set[str] = set()
        self.errors: dict[str, str] = {}

    def __call__(self, step: Step, node: Any) -> None:
        if step.kind != "task" or node_is_local(node) or step.group is None:
            return
        ref = base_ref(step)
        if ref in self.pushed:
            return
        self.pushed.add(ref)
        info = node.workerinput[KEY]
        top = top_of(self.settings.project_dir)
        if top is None:
            return
        try:
            run_git(top, "push", "-q", "--force", info["url"], f"HEAD:{ref}")
        except WorkspaceError as exc:
            self.errors[ref] = exc.reason




class LogReceiver:
    """Controller plugin: remote task logs go to the log directory, not into reports."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> Any:
        write_shipped_log(report, self.log_dir)
        return (yield)


def write_shipped_log(report: pytest.TestReport, log_dir: Path) -> None:
    """Controller: write a remote task's log to the log directory; drop it from the report."""
    facts = facts_of(report.user_properties)
    shipped = facts.shipped_log
    if shipped is None:
        return
    target = log_dir / Path(shipped.name).name
    if target.name and not target.exists():  # not written there by the worker
        try:
            log_dir.mkdir(parents=True, exist_ok=True)
            target.write_text(shipped.text, encoding="utf-8")
        except OSError:
            pass
    facts.shipped_log = None
    report.user_properties[:] = with_facts(report.user_properties, facts)


# -- a worker --------------------------------------------------------------------------


def worker_info(config: pytest.Config) -> dict[str, Any] | None:
    workerinput = getattr(config, "workerinput", None)
    if not workerinput:
        return None
    info = workerinput.get(KEY)
    return info if isinstance(info, dict) else None


def is_remote(config: pytest.Config) -> bool:
    """This worker's working directory is not in the controller's repository (or host)."""
    info = worker_info(config)
    if info is None:
        return False
    if info["host"] != socket.gethostname() or not info["top"]:
        return True
    return not Path.cwd().resolve().is_relative_to(Path(info["top"]))


def worker_id(config: pytest.Config) -> str:
    return str(getattr(config, "workerinput", {}).get("workerid", "worker"))


def other_host(config: pytest.Config) -> bool:
    """This worker cannot reach the controller's project directory (another machine)."""
    info = worker_info(config)
    if info is None:
        return False
    if info["host"] != socket.gethostname():
        return True
    return not Path(str(info["project_dir"]), str(info["roadmap_name"])).is_file()


def worker_roadmap(config: pytest.Config) -> str | None:
    """Remote worker: the controller's roadmap (on another host: a copy in ``<cwd>/roadmap-<gw>/``).

    On the controller's host the worker reads the controller's roadmap, so that its
    settings, logs, gates and commits are the controller's; only its tasks run in a clone.
    """
    info = worker_info(config)
    if info is None or not is_remote(config):
        return None
    if not other_host(config):
        return str(Path(str(info["project_dir"])) / str(info["roadmap_name"]))
    folder = Path.cwd() / f"roadmap-{worker_id(config)}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / str(info["roadmap_name"])
    path.write_text(str(info["roadmap_text"]), encoding="utf-8")
    return str(path)


def adjust(config: pytest.Config, settings: Settings) -> Settings:
    """With a remote worker in the run, local workers isolate tasks in worktrees."""
    info = worker_info(config)
    if info is not None and info.get("any_remote") and settings.isolation != "worktree":
        return replace(settings, isolation="worktree")
    return settings


def nodeid(config: pytest.Config) -> str | None:
    info = worker_info(config)
    return str(info["nodeid"]) if info is not None and is_remote(config) else None














def ship_log(log: Path) -> ShippedLog | None:
    """The log (its last LOG_LIMIT characters), to be carried to the controller."""
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return ShippedLog(log.name, text[-LOG_LIMIT:])


# -- the gate (a local worker) ---------------------------------------------------------




def origin(config: pytest.Config) -> Origin:
    """What this remote worker's clone is made from."""
    info = worker_info(config)
    assert info is not None
    return Origin(
        worker=worker_id(config),
        url=str(info["url"]),
        project_dir=Path(str(info["project_dir"])),
        top=Path(str(info["top"])) if info["top"] else None,
        author=tuple(str(value) for value in info.get("author") or ()),
    )


def group_url(config: pytest.Config, gate: Step) -> str | None:
    """The remote the gate fetches the group's task branches from: None when no worker of
    the run is remote (there is nothing to fetch)."""
    info = worker_info(config)
    if info is None or not info.get("any_remote"):
        return None
    local_only(config, gate.label)
    return str(info["url"])


def local_only(config: pytest.Config, what: str) -> None:
    """Gates and phase commits need the controller's tree."""
    if other_host(config):
        raise WorkspaceError(
            f"{worker_id(config)}: {what} must run on the controller's machine: "
            "add a local worker (--tx popen)"
        )
