"""Fixtures for the end-to-end tier: the real Claude Code CLI against a scripted API.

- ``claude_version``: the pinned CLI version, read from tools/install_claude.sh.
- ``claude_bin``: path of the installed CLI (env ROADMAP_CLAUDE_BIN, else the
  install script's cache dir). Missing: skip, or fail when CI=true.
- ``messages_api``: a started ``MessagesAPI`` (see messages_api.py), stopped after.
- ``git_repo``: a fresh git repository with one commit, the CLI's working dir.
- ``claude_env``: the environment for the CLI, aimed at ``messages_api``.
- ``run_claude``: ``run_claude(prompt, args=(), env=None, cwd=None, timeout=30)``
  runs ``claude -p --output-format stream-json --verbose --permission-mode
  bypassPermissions`` with the prompt on stdin and returns a ``ClaudeRun``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import psutil
import pytest

from .messages_api import MessagesAPI

REPO_ROOT = Path(__file__).resolve().parents[2]
INSTALL_SCRIPT = REPO_ROOT / "tools" / "install_claude.sh"

# The first commit of ``git_repo``: it names another task, so that a server
# matching task ids inside the CLI's git-status system-reminder would misroute.
BAIT_COMMIT_SUBJECT = "Task A2: bait commit subject (must not be matched)"

# Environment of ours that must not reach the CLI: nesting guards, a real key
# or endpoint, retry tuning, proxies (the server is on loopback).
_DROP_PREFIXES = ("ANTHROPIC_", "CLAUDE_CODE_", "CLAUDE_CONFIG_DIR")
_DROP_NAMES = frozenset(
    {
        "CLAUDECODE",
        "IS_SANDBOX",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    }
)

BASE_ARGS = (
    "-p",
    "--output-format",
    "stream-json",
    "--verbose",
    "--permission-mode",
    "bypassPermissions",
)


def pinned_claude_version() -> str:
    """The version pinned in tools/install_claude.sh (its one pinning place)."""
    m = re.search(
        r'^CLAUDE_CODE_VERSION="([^"]+)"', INSTALL_SCRIPT.read_text(encoding="utf-8"), re.M
    )
    if m is None:
        raise RuntimeError(f"no CLAUDE_CODE_VERSION=... line in {INSTALL_SCRIPT}")
    return m.group(1)


def default_claude_bin(version: str) -> Path:
    """Where tools/install_claude.sh puts the CLI."""
    cache = os.environ.get("ROADMAP_CLAUDE_CACHE") or str(
        Path.home() / ".cache" / "pytest-roadmap" / f"claude-{version}"
    )
    return Path(cache) / "node_modules" / ".bin" / "claude"


@pytest.fixture(scope="session")
def claude_version() -> str:
    return pinned_claude_version()


@pytest.fixture(scope="session")
def claude_bin(claude_version: str) -> Path:
    explicit = os.environ.get("ROADMAP_CLAUDE_BIN")
    path = Path(explicit) if explicit else default_claude_bin(claude_version)
    problem = None
    if not (path.is_file() and os.access(path, os.X_OK)):
        problem = f"no executable at {path}"
    else:
        try:
            out = subprocess.run(
                [str(path), "--version"],
                capture_output=True,
                text=True,
                timeout=60,
                stdin=subprocess.DEVNULL,
            ).stdout
        except (OSError, subprocess.TimeoutExpired) as exc:
            problem = f"{path} --version failed: {exc}"
        else:
            if not out.startswith(claude_version):
                problem = f"{path} --version says {out.strip()!r}, pinned {claude_version}"
    if problem is not None:
        msg = f"Claude Code CLI not installed: run tools/install_claude.sh ({problem})"
        if os.environ.get("CI") == "true":
            pytest.fail(msg, pytrace=False)
        pytest.skip(msg)
    return path.absolute()


@pytest.fixture
def messages_api() -> Iterator[MessagesAPI]:
    with MessagesAPI() as api:
        yield api


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=e2e", "-c", "user.email=e2e@example.invalid"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True, timeout=30)
    (repo / "README.md").write_text("# e2e scratch repo\n", encoding="utf-8")
    subprocess.run([*git, "add", "README.md"], check=True, timeout=30)
    subprocess.run([*git, "commit", "-q", "-m", BAIT_COMMIT_SUBJECT], check=True, timeout=30)
    return repo


def make_claude_env(
    base: Mapping[str, str], api_url: str, config_dir: Path, home: Path
) -> dict[str, str]:
    """The CLI's environment: ``base`` cleaned, then aimed at ``api_url``."""
    env = {
        k: v for k, v in base.items() if not k.startswith(_DROP_PREFIXES) and k not in _DROP_NAMES
    }
    env.update(
        ANTHROPIC_BASE_URL=api_url,
        ANTHROPIC_API_KEY="test-key",
        CLAUDE_CONFIG_DIR=str(config_dir),
        HOME=str(home),
        DISABLE_AUTOUPDATER="1",
        DISABLE_TELEMETRY="1",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
    )
    if os.geteuid() == 0:
        # Without it the CLI refuses bypassPermissions as root (exit 1).
        env["IS_SANDBOX"] = "1"
    return env


@pytest.fixture
def claude_env(messages_api: MessagesAPI, tmp_path: Path) -> dict[str, str]:
    config_dir = tmp_path / "claude-config"
    home = tmp_path / "home"
    config_dir.mkdir()
    home.mkdir()
    return make_claude_env(os.environ, messages_api.url, config_dir, home)


# ------------------------------------------------------------------ running


@dataclass
class ClaudeRun:
    """What one CLI run produced."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    elapsed: float
    timed_out: bool
    events: list[dict[str, Any]] = field(default_factory=list)
    non_json_lines: list[str] = field(default_factory=list)
    leftover_pids: list[int] = field(default_factory=list)

    @property
    def result(self) -> dict[str, Any] | None:
        """The last ``result`` event, if any."""
        results = self.of_type("result")
        return results[-1] if results else None

    def of_type(self, type_: str, subtype: str | None = None) -> list[dict[str, Any]]:
        return [
            e
            for e in self.events
            if e.get("type") == type_ and (subtype is None or e.get("subtype") == subtype)
        ]

    def describe(self) -> str:
        """For assertion messages."""
        return (
            f"rc={self.returncode} timed_out={self.timed_out} elapsed={self.elapsed:.2f}s\n"
            f"result={json.dumps(self.result)}\nstderr={self.stderr[-2000:]!r}\n"
            f"non-json={self.non_json_lines[-5:]!r}"
        )


def _group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group."""
    members = []
    for proc in psutil.process_iter(["pid", "status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                members.append(proc.pid)
        except (ProcessLookupError, psutil.Error):
            continue
    return members


def _kill_tree(proc: subprocess.Popen[str]) -> list[int]:
    """Kill the CLI's process group and any descendant that left it; return survivors."""
    try:
        descendants = psutil.Process(proc.pid).children(recursive=True)
    except psutil.Error:
        descendants = []
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    for child in descendants:  # ones that started their own session
        with contextlib.suppress(psutil.Error):
            child.kill()
    deadline = time.monotonic() + 5
    while True:
        survivors = _group_members(proc.pid) + [
            c.pid for c in descendants if c.is_running() and c.status() != psutil.STATUS_ZOMBIE
        ]
        if not survivors or time.monotonic() > deadline:
            return sorted(set(survivors))
        time.sleep(0.05)


def run_claude_cli(
    claude_bin: Path,
    prompt: str,
    *,
    cwd: Path,
    env: Mapping[str, str],
    args: Sequence[str] = (),
    timeout: float = 30,
) -> ClaudeRun:
    """Run the CLI headless with ``prompt`` on stdin; kill its process group after ``timeout``."""
    argv = [str(claude_bin), *BASE_ARGS, *args]
    start = time.monotonic()
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    timed_out = False
    leftover: list[int] = []
    try:
        stdout, stderr = proc.communicate(prompt, timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        leftover = _kill_tree(proc)
        stdout, stderr = proc.communicate(timeout=10)
    except BaseException:
        _kill_tree(proc)
        proc.communicate(timeout=10)
        raise
    elapsed = time.monotonic() - start
    if not timed_out:
        # The CLI exited; nothing it started may outlive it.
        leftover = _kill_tree(proc) if _group_members(proc.pid) else []
    events: list[dict[str, Any]] = []
    junk: list[str] = []
    for line in stdout.splitlines():
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except ValueError:
            junk.append(line)
            continue
        if isinstance(event, dict):
            events.append(event)
        else:
            junk.append(line)
    return ClaudeRun(
        args=argv,
        returncode=proc.returncode,
        stdout=stdout,
        stderr=stderr,
        elapsed=elapsed,
        timed_out=timed_out,
        events=events,
        non_json_lines=junk,
        leftover_pids=leftover,
    )


RunClaude = Callable[..., ClaudeRun]


@pytest.fixture
def run_claude(claude_bin: Path, claude_env: dict[str, str], git_repo: Path) -> RunClaude:
    def run(
        prompt: str,
        *,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float = 30,
    ) -> ClaudeRun:
        return run_claude_cli(
            claude_bin,
            prompt,
            cwd=cwd or git_repo,
            env=claude_env if env is None else env,
            args=args,
            timeout=timeout,
        )

    return run
