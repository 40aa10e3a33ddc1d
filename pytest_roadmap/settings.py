"""Options, ini settings and their resolution into one frozen :class:`Settings`.

Precedence, highest first: command line, environment variable, the roadmap's
YAML front matter, the ini file, the default.
"""

from __future__ import annotations

import os
import shlex
import shutil
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROADMAP_DESC = "run the roadmap in this Markdown file: one test item per task, gate and commit"
PHASES_DESC = "only these phases, e.g. '2', '2-3' or '1,3'"
TASK_TIMEOUT_DESC = "seconds an agent may run before its process tree is killed (env TASK_TIMEOUT)"
REDO_DESC = "ignore recorded completion (status files, cache) and run everything selected again"
DRY_RUN_DESC = "run no agent and no gate and write no file; each item reports what it would do"
GATES_DESC = "gate command lines run after each group (default: the npm scripts that exist)"
GATE_DESC = "a gate command line; repeat for several (replaces roadmap_gates)"
NO_GATES_DESC = "run no gate commands (each group's gate item passes at once)"
AGENT_COMMAND_DESC = (
    "command line of another agent than Claude Code; '{prompt_file}' is replaced by a file "
    "holding the prompt, otherwise the prompt comes on stdin"
)
AGENT_DESC = (
    "the coding agent: 'claude' (Claude Code, the default), 'codex' (OpenAI's Codex CLI) or "
    "'command' (roadmap_agent_command)"
)
AGENT_BIN_DESC = "the agent's binary for --roadmap-agent codex (default: 'codex' on PATH)"
AGENT_ARGS_DESC = "extra arguments for the agent of --roadmap-agent codex"
CLAUDE_BIN_DESC = "the Claude Code CLI to run (env CLAUDE_BIN; default: 'claude' on PATH)"
CLAUDE_ARGS_DESC = "extra arguments for the Claude Code CLI"
PROMPT_TEMPLATE_DESC = (
    "file with the prompt template; placeholders: {task_id} {task_title} {task_text} {group_id} "
    "{group_title} {phase_number} {phase_title} {siblings} {roadmap_path}"
)
NO_COMMIT_DESC = "do not commit after each phase (nor push)"
NO_PUSH_DESC = "commit after each phase but do not push"
STATUS_DESC = "print the progress table from status files, cache and git history; run nothing"
ISOLATION_DESC = (
    "'shared': every agent works in the project's tree; 'worktree': each task in its own "
    "git worktree and branch, merged in roadmap order before the gate"
)
WORKTREE_SETUP_DESC = "command line run in each new worktree before its agent (e.g. 'npm ci')"
MAX_TURNS_DESC = "passed to Claude Code as --max-turns"
MAX_BUDGET_DESC = "passed to Claude Code as --max-budget-usd (per task)"
RESUME_SESSIONS_DESC = (
    "re-run a task that failed or timed out after its session started with "
    "--resume <session id> and a short 'continue' prompt"
)
FIX_ATTEMPTS_DESC = "repair agents started, one after another, when a gate fails (default 1)"
RETRIES_DESC = (
    "retries of a task after a transient agent failure: HTTP 429/5xx, a crash (default 2)"
)
RETRY_BACKOFF_DESC = "seconds before the first retry; doubled for each further one (default 5)"
STAGGER_DESC = (
    "seconds between agent starts of a burst under xdist (the starts after a quiet minute), "
    "so agents don't all call the API at once"
)
MEMFREE_DESC = (
    "start a new agent only while the machine has this much memory available (512M, 2G); "
    "one agent always runs (env ROADMAP_MEMFREE)"
)
RUN_BUDGET_DESC = "stop starting tasks once the roadmap's agents have spent this many USD in all"
ORDER_DESC = (
    "order of a group's tasks when more are ready than agents free: 'roadmap', "
    "'longest-first' (by estimate) or 'auto' (longest first where estimates exist; default)"
)
LOG_DIR_DESC = "directory of the agents' and gates' logs, relative to the roadmap's directory"
STATUS_DIR_DESC = "directory of the status files, relative to the roadmap's directory"
LIVE_DESC = (
    "live view of the running tasks: 'auto' on a terminal (not in CI, not with -q), "
    "'on' or 'off' (env ROADMAP_LIVE)"
)
IDLE_TIMEOUT_DESC = (
    "seconds an agent may print nothing before it is ended and retried as stalled; "
    "0: never (env ROADMAP_IDLE_TIMEOUT; default 900)"
)
LIMIT_WAIT_DESC = (
    "longest wait for a usage limit to reset before the run stops instead; 0: never wait "
    "(env ROADMAP_LIMIT_WAIT; default 21600)"
)
LIMIT_POLL_DESC = "seconds before trying again after a usage limit with no reset time (default 900)"
NOTIFY_DESC = (
    "a command line run on each run event (group passed/failed, phase committed, usage limit "
    "wait, run stopped/finished) with ROADMAP_EVENT and ROADMAP_MESSAGE in its environment; "
    "repeat for several"
)
NOTIFY_LINES_DESC = "command lines run on each run event (see --roadmap-notify)"
NOTIFY_TIMEOUT_DESC = "seconds a notify command may take before it is ended (default 30)"
SERVICES_DESC = (
    "command lines that bring the project's services up once before the first agent "
    "(default with a compose file: 'docker compose up -d --wait'); 'none' turns them off"
)
SERVICE_DESC = "a services command line; repeat for several (replaces roadmap_services)"
SERVICES_DOWN_DESC = "command lines run at the end of the run when services were started"
REQUIRE_ENV_DESC = (
    "with .env.example (or .env.sample) in the project, require a .env (default true)"
)
REPORT_DESC = (
    "the HTML report with the run's timeline, kept current during the run, relative to the "
    "roadmap's directory (default: <status dir>/roadmap-report.html; 'none': no report)"
)

REMOTE_DESC = "git URL that remote --tx workers clone and push task branches to"
DEFAULT_TASK_TIMEOUT = 3600.0
ISOLATION_MODES = ("shared", "worktree")
LIVE_MODES = ("auto", "on", "off")
ORDER_MODES = ("auto", "longest-first", "roadmap")
#: the --roadmap-agent presets (built in pytest_roadmap.agents.presets)
AGENT_PRESETS = ("claude", "codex", "command")
DEFAULT_FIX_ATTEMPTS = 1
DEFAULT_RETRIES = 2
DEFAULT_RETRY_BACKOFF = 5.0
DEFAULT_STAGGER = 0.5
DEFAULT_IDLE_TIMEOUT = 900.0
DEFAULT_LIMIT_WAIT = 6 * 3600.0
DEFAULT_LIMIT_POLL = 15 * 60.0
DEFAULT_NOTIFY_TIMEOUT = 30.0
DEFAULT_LOG_DIR = "logs/orchestrator"
DEFAULT_STATUS_DIR = "status"
DEFAULT_REPORT_NAME = "roadmap-report.html"
CLAUDE_INSTALL_HINT = (
    "Claude Code CLI not found! Install it (npm install -g @anthropic-ai/claude-code) "
    "or set roadmap_claude_bin"
)

#: ini settings a roadmap's front matter may set too.
INI_SETTINGS: dict[str, tuple[str, str, str | None]] = {
    # name: (help, ini type, default)
    "roadmap_phases": (PHASES_DESC, "string", None),
    "roadmap_task_timeout": (TASK_TIMEOUT_DESC, "string", None),
    "roadmap_gates": (GATES_DESC, "linelist", None),
    "roadmap_agent_command": (AGENT_COMMAND_DESC, "string", None),
    "roadmap_agent": (AGENT_DESC, "string", None),
    "roadmap_agent_bin": (AGENT_BIN_DESC, "string", None),
    "roadmap_agent_args": (AGENT_ARGS_DESC, "args", None),
    "roadmap_claude_bin": (CLAUDE_BIN_DESC, "string", None),
    "roadmap_claude_args": (CLAUDE_ARGS_DESC, "args", None),
    "roadmap_prompt_template": (PROMPT_TEMPLATE_DESC, "string", None),
    "roadmap_isolation": (ISOLATION_DESC, "string", None),
    "roadmap_worktree_setup": (WORKTREE_SETUP_DESC, "string", None),
    "roadmap_claude_max_turns": (MAX_TURNS_DESC, "string", None),
    "roadmap_max_budget_usd": (MAX_BUDGET_DESC, "string", None),
    "roadmap_fix_attempts": (FIX_ATTEMPTS_DESC, "string", None),
    "roadmap_retries": (RETRIES_DESC, "string", None),
    "roadmap_retry_backoff": (RETRY_BACKOFF_DESC, "string", None),
    "roadmap_stagger": (STAGGER_DESC, "string", None),
    "roadmap_run_budget_usd": (RUN_BUDGET_DESC, "string", None),
    "roadmap_memfree": (MEMFREE_DESC, "string", None),
    "roadmap_log_dir": (LOG_DIR_DESC, "string", DEFAULT_LOG_DIR),
    "roadmap_status_dir": (STATUS_DIR_DESC, "string", DEFAULT_STATUS_DIR),
    "roadmap_live": (LIVE_DESC, "string", None),
    "roadmap_idle_timeout": (IDLE_TIMEOUT_DESC, "string", None),
    "roadmap_limit_wait": (LIMIT_WAIT_DESC, "string", None),
    "roadmap_limit_poll": (LIMIT_POLL_DESC, "string", None),
    "roadmap_notify": (NOTIFY_LINES_DESC, "linelist", None),
    "roadmap_notify_timeout": (NOTIFY_TIMEOUT_DESC, "string", None),
    "roadmap_services": (SERVICES_DESC, "linelist", None),
    "roadmap_services_down": (SERVICES_DOWN_DESC, "linelist", None),
    "roadmap_require_env": (REQUIRE_ENV_DESC, "string", None),
    "roadmap_report": (REPORT_DESC, "string", None),
    "roadmap_order": (ORDER_DESC, "string", None),
}


def add_options(parser: pytest.Parser) -> None:
    """Register the ``--roadmap*`` options and ``roadmap_*`` ini settings."""
    group = parser.getgroup("roadmap", "run a Markdown roadmap through coding agents")
    # Help texts: lower case, no trailing period, as pytest's own.
    group.addoption("--roadmap", metavar="PATH", default=None, help=ROADMAP_DESC)
    group.addoption("--roadmap-phases", metavar="SPEC", default=None, help=PHASES_DESC)
    group.addoption(
        "--roadmap-task-timeout",
        "--task-timeout",
        dest="roadmap_task_timeout",
        metavar="SECONDS",
        default=None,
        help=TASK_TIMEOUT_DESC,
    )
    group.addoption("--roadmap-redo", action="store_true", default=False, help=REDO_DESC)
    group.addoption("--roadmap-dry-run", action="store_true", default=False, help=DRY_RUN_DESC)
    group.addoption("--roadmap-gate", action="append", metavar="CMD", default=None, help=GATE_DESC)
    group.addoption("--roadmap-no-gates", action="store_true", default=False, help=NO_GATES_DESC)
    group.addoption("--roadmap-agent-command", metavar="CMD", default=None, help=AGENT_COMMAND_DESC)
    group.addoption("--roadmap-agent", choices=AGENT_PRESETS, default=None, help=AGENT_DESC)
    group.addoption("--roadmap-no-commit", action="store_true", default=False, help=NO_COMMIT_DESC)
    group.addoption("--roadmap-no-push", action="store_true", default=False, help=NO_PUSH_DESC)
    group.addoption("--roadmap-status", action="store_true", default=False, help=STATUS_DESC)
    group.addoption(
        "--roadmap-isolation", choices=ISOLATION_MODES, default=None, help=ISOLATION_DESC
    )
    group.addoption("--roadmap-claude-max-turns", metavar="N", default=None, help=MAX_TURNS_DESC)
    group.addoption("--roadmap-max-budget-usd", metavar="USD", default=None, help=MAX_BUDGET_DESC)
    group.addoption(
        "--roadmap-resume-sessions", action="store_true", default=False, help=RESUME_SESSIONS_DESC
    )
    group.addoption("--roadmap-fix-attempts", metavar="N", default=None, help=FIX_ATTEMPTS_DESC)
    group.addoption("--roadmap-retries", metavar="N", default=None, help=RETRIES_DESC)
    group.addoption("--roadmap-stagger", metavar="SECONDS", default=None, help=STAGGER_DESC)
    group.addoption("--roadmap-run-budget-usd", metavar="USD", default=None, help=RUN_BUDGET_DESC)
    group.addoption("--roadmap-memfree", metavar="SIZE", default=None, help=MEMFREE_DESC)
    group.addoption("--roadmap-live", choices=LIVE_MODES, default=None, help=LIVE_DESC)
    group.addoption(
        "--roadmap-idle-timeout", metavar="SECONDS", default=None, help=IDLE_TIMEOUT_DESC
    )
    group.addoption("--roadmap-limit-wait", metavar="SECONDS", default=None, help=LIMIT_WAIT_DESC)
    group.addoption(
        "--roadmap-notify", action="append", metavar="CMD", default=None, help=NOTIFY_DESC
    )
    group.addoption(
        "--roadmap-services", action="append", metavar="CMD", default=None, help=SERVICE_DESC
    )
    group.addoption("--roadmap-report", metavar="PATH", default=None, help=REPORT_DESC)
    group.addoption("--roadmap-order", choices=ORDER_MODES, default=None, help=ORDER_DESC)
    for name, (help_text, kind, default) in INI_SETTINGS.items():
        parser.addini(name, help_text, type=kind, default=default)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Settings:
    """Everything a run needs to know, resolved once per process."""

    roadmap: Path
    project_dir: Path
    phases: frozenset[int] | None
    task_timeout: float
    redo: bool
    dry_run: bool
    commit: bool
    push: bool
    gates: tuple[str, ...] | None  # None: the npm scripts that exist
    agent_command: str | None
    claude_bin: str | None
    claude_args: tuple[str, ...]
    prompt_template: Path | None
    log_dir: Path
    status_dir: Path
    status_only: bool = False
    isolation: str = "shared"
    worktree_setup: str | None = None
    max_turns: int | None = None
    max_budget_usd: float | None = None
    resume_sessions: bool = False
    fix_attempts: int = DEFAULT_FIX_ATTEMPTS
    retries: int = DEFAULT_RETRIES
    retry_backoff: float = DEFAULT_RETRY_BACKOFF
    stagger: float = DEFAULT_STAGGER
    run_budget_usd: float | None = None
    memfree: int | None = None  # bytes; None: no memory guard
    agent: str = "claude"  # one of AGENT_PRESETS; agent_command is set for 'command' only
    agent_bin: str | None = None
    agent_args: tuple[str, ...] = ()
    live: str = "auto"  # one of LIVE_MODES
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT  # 0: never
    limit_wait: float = DEFAULT_LIMIT_WAIT
    limit_poll: float = DEFAULT_LIMIT_POLL
    notify: tuple[str, ...] = ()
    notify_timeout: float = DEFAULT_NOTIFY_TIMEOUT
    services: tuple[str, ...] | None = None  # None: 'up' from the compose file, if any
    services_down: tuple[str, ...] = ()
    require_env: bool = True
    report: Path | None = None  # the HTML report; None: not written
    order: str = "auto"  # one of ORDER_MODES

    @property
    def uses_claude(self) -> bool:
        """True when the agent is the Claude Code CLI."""
        return self.agent == "claude"


def parse_phases(spec: str, where: str = "--roadmap-phases") -> frozenset[int]:
    """Parse '2', '2-3' or '1,3' (and mixes: '1,3-4') into phase numbers."""
    numbers: set[int] = set()
    try:
        for part in spec.split(","):
            first, sep, last = part.strip().partition("-")
            low, high = int(first), int(last) if sep else int(first)
            if low > high or low < 0:
                raise ValueError
            numbers.update(range(low, high + 1))
    except ValueError:
        raise pytest.UsageError(
            f"invalid phases {spec!r} from {where}: use a number, a range or a list, "
            "e.g. 2, 2-3 or 1,3"
        ) from None
    return frozenset(numbers)


def parse_timeout(value: object, where: str) -> float:
    """A positive number of seconds, or a UsageError naming where it came from."""
    try:
        seconds = float(str(value))
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise pytest.UsageError(
            f"invalid task timeout {value!r} from {where}: give a positive number of seconds"
        )
    return seconds


def _positive(value: object, where: str, kind: type[int] | type[float], what: str) -> Any:
    """A positive int or float, or a UsageError naming where it came from."""
    try:
        number = kind(str(value))
    except ValueError:
        number = 0
    if not number > 0:
        raise pytest.UsageError(f"invalid {what} {value!r} from {where}: give a positive number")
    return number


def _positive_seconds(found: tuple[object, str], default: float, what: str) -> float:
    """A positive number of seconds (or the default when unset)."""
    value, where = found
    return default if value is None else float(_positive(value, where, float, what))


def _memfree(found: tuple[object, str]) -> int | None:
    """``--roadmap-memfree``: bytes, or None when unset (or 0)."""
    from pytest_roadmap.resources import parse_size

    value, where = found
    if value is None:
        return None
    try:
        size = parse_size(str(value))
    except ValueError:
        raise pytest.UsageError(
            f"invalid memory size {value!r} from {where}: give e.g. 512M or 2G"
        ) from None
    return size or None


def _count(found: tuple[object, str], default: int) -> int:
    """A whole number >= 0 (or the default when unset)."""
    value, where = found
    if value is None:
        return default
    try:
        number = int(str(value))
    except ValueError:
        number = -1
    if number < 0:
        raise pytest.UsageError(f"invalid count {value!r} from {where}: give a whole number >= 0")
    return number


def _seconds(found: tuple[object, str], default: float) -> float:
    """A number of seconds >= 0 (or the default when unset)."""
    value, where = found
    if value is None:
        return default
    try:
        number = float(str(value))
    except ValueError:
        number = -1.0
    if not number >= 0:
        raise pytest.UsageError(f"invalid seconds {value!r} from {where}: give a number >= 0")
    return number


def _agent_preset(preset: tuple[object, str], command: tuple[object, str]) -> str:
    """The --roadmap-agent preset; a roadmap_agent_command set where it wins means 'command'."""
    (value, where), (command_value, command_where) = preset, command
    if command_value and (value is None or _rank(command_where) > _rank(where)):
        return "command"
    name = str(value or "claude")
    if name not in AGENT_PRESETS:
        choices = ", ".join(repr(choice) for choice in AGENT_PRESETS)
        raise pytest.UsageError(f"invalid agent {name!r} from {where}: use one of {choices}")
    if name == "command" and not command_value:
        raise pytest.UsageError(
            f"agent 'command' from {where} needs roadmap_agent_command "
            "(or --roadmap-agent-command CMD)"
        )
    return name


def _choice(found: tuple[object, str], choices: Sequence[str], what: str) -> str:
    """One of ``choices`` (default 'auto'), or a UsageError naming ``what`` and where."""
    value, where = found
    mode = str(value or "auto").strip().lower()
    if mode not in choices:
        names = ", ".join(repr(choice) for choice in choices)
        raise pytest.UsageError(f"invalid {what} {value!r} from {where}: use one of {names}")
    return mode


def _services(found: tuple[object, str]) -> tuple[str, ...] | None:
    """roadmap_services: None when unset (the compose default), () for 'none'."""
    value, _ = found
    if value is None:
        return None
    lines = _as_lines(value)
    return () if [line.lower() for line in lines] in ([], ["none"]) else lines


def _flag(found: tuple[object, str], default: bool) -> bool:
    """A true/false setting (true/false, yes/no, on/off, 1/0)."""
    value, where = found
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    raise pytest.UsageError(f"invalid value {value!r} from {where}: use true or false")


def _rank(where: str) -> int:
    """Precedence of where a setting came from: command line 3, env 2, front matter 1, ini 0."""
    if where.startswith("--"):
        return 3
    if where.endswith("environment variable"):
        return 2
    return 1 if where.endswith("front matter") else 0


class _Resolver:
    """Looks a setting up on the command line, in the environment, front matter and ini."""

    def __init__(self, config: pytest.Config, front_matter: Mapping[str, object]) -> None:
        self.config = config
        self.front_matter = front_matter

    def get(self, name: str, env: str | None = None) -> tuple[object, str]:
        """Return (value, where it came from); value None when nowhere set."""
        cli = self.config.getoption(name, default=None)
        if cli is not None and cli is not False:
            return cli, "--" + name.replace("_", "-")
        if env and os.environ.get(env):
            return os.environ[env], f"{env} environment variable"
        if name in self.front_matter:
            return self.front_matter[name], f"{name} in the roadmap's front matter"
        value = self.config.getini(name)
        if value not in (None, "", []):
            return value, f"{name} in the ini file"
        return None, "default"


def _as_lines(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(line.strip() for line in value.splitlines() if line.strip())
    if isinstance(value, (list, tuple)):
        return tuple(str(v).strip() for v in value if str(v).strip())
    return (str(value),)


def _as_args(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(shlex.split(value))
    if isinstance(value, (list, tuple)):
        return tuple(str(v) for v in value)
    return (str(value),)


def find_claude(configured: str | None) -> str | None:
    """Resolve the Claude Code CLI: an explicit path or name, else ``claude`` on PATH."""
    return shutil.which(configured or "claude")


def unknown_front_matter(front_matter: Mapping[str, object]) -> list[str]:
    """Front matter keys that are not settings."""
    return [key for key in front_matter if key not in INI_SETTINGS]


def resolve(config: pytest.Config, roadmap: Path, front_matter: Mapping[str, object]) -> Settings:
    """Resolve every setting for the roadmap at ``roadmap`` (an absolute path)."""
    look = _Resolver(config, front_matter)
    project_dir = roadmap.parent

    phases_value, where = look.get("roadmap_phases")
    phases = parse_phases(str(phases_value), where) if phases_value is not None else None

    timeout_value, where = look.get("roadmap_task_timeout", env="TASK_TIMEOUT")
    task_timeout = (
        DEFAULT_TASK_TIMEOUT if timeout_value is None else parse_timeout(timeout_value, where)
    )

    gates: tuple[str, ...] | None
    if config.getoption("roadmap_no_gates"):
        gates = ()
    elif config.getoption("roadmap_gate"):
        gates = tuple(config.getoption("roadmap_gate"))
    else:
        gate_value, _ = look.get("roadmap_gates")
        gates = None if gate_value is None else _as_lines(gate_value)

    agent_found = look.get("roadmap_agent_command")
    agent = _agent_preset(look.get("roadmap_agent"), agent_found)
    agent_value = agent_found[0] if agent == "command" else None
    agent_bin_value, _ = look.get("roadmap_agent_bin")
    agent_args_value, _ = look.get("roadmap_agent_args")
    bin_value, _ = look.get("roadmap_claude_bin", env="CLAUDE_BIN")
    args_value, _ = look.get("roadmap_claude_args")
    template_value, _ = look.get("roadmap_prompt_template")
    log_value, _ = look.get("roadmap_log_dir")
    status_value, _ = look.get("roadmap_status_dir")

    isolation_value, where = look.get("roadmap_isolation")
    isolation = str(isolation_value or "shared")
    if isolation not in ISOLATION_MODES:
        raise pytest.UsageError(
            f"invalid isolation {isolation!r} from {where}: use 'shared' or 'worktree'"
        )
    setup_value, _ = look.get("roadmap_worktree_setup")
    turns_value, where = look.get("roadmap_claude_max_turns")
    max_turns = None if turns_value is None else _positive(turns_value, where, int, "max turns")
    budget_value, where = look.get("roadmap_max_budget_usd")
    budget = None if budget_value is None else _positive(budget_value, where, float, "budget")

    counts = {
        name: _count(look.get(f"roadmap_{name}"), default)
        for name, default in (("fix_attempts", DEFAULT_FIX_ATTEMPTS), ("retries", DEFAULT_RETRIES))
    }
    seconds = {
        name: _seconds(look.get(f"roadmap_{name}", env=env), default)
        for name, default, env in (
            ("retry_backoff", DEFAULT_RETRY_BACKOFF, None),
            ("stagger", DEFAULT_STAGGER, None),
            ("idle_timeout", DEFAULT_IDLE_TIMEOUT, "ROADMAP_IDLE_TIMEOUT"),
            ("limit_wait", DEFAULT_LIMIT_WAIT, "ROADMAP_LIMIT_WAIT"),
        )
    }
    limit_poll = _positive_seconds(
        look.get("roadmap_limit_poll"), DEFAULT_LIMIT_POLL, "poll interval"
    )
    notify_timeout = _positive_seconds(
        look.get("roadmap_notify_timeout"), DEFAULT_NOTIFY_TIMEOUT, "notify timeout"
    )
    memfree = _memfree(look.get("roadmap_memfree", env="ROADMAP_MEMFREE"))
    run_budget_value, where = look.get("roadmap_run_budget_usd")
    run_budget = (
        None if run_budget_value is None else _positive(run_budget_value, where, float, "budget")
    )

    report_value, _ = look.get("roadmap_report")
    status_dir = project_dir / str(status_value or DEFAULT_STATUS_DIR)

    return Settings(
        services=_services(look.get("roadmap_services")),
        services_down=_as_lines(look.get("roadmap_services_down")[0] or ()),
        require_env=_flag(look.get("roadmap_require_env"), default=True),
        report=_report_path(report_value, project_dir, status_dir),
        fix_attempts=counts["fix_attempts"],
        retries=counts["retries"],
        retry_backoff=seconds["retry_backoff"],
        stagger=seconds["stagger"],
        idle_timeout=seconds["idle_timeout"],
        limit_wait=seconds["limit_wait"],
        limit_poll=limit_poll,
        notify=_as_lines(look.get("roadmap_notify")[0] or ()),
        notify_timeout=notify_timeout,
        run_budget_usd=run_budget,
        memfree=memfree,
        live=_choice(look.get("roadmap_live", env="ROADMAP_LIVE"), LIVE_MODES, "live view"),
        order=_choice(look.get("roadmap_order"), ORDER_MODES, "order"),
        agent=agent,
        agent_bin=str(agent_bin_value) if agent_bin_value else None,
        agent_args=_as_args(agent_args_value) if agent_args_value else (),
        status_only=bool(config.getoption("roadmap_status")),
        isolation=isolation,
        worktree_setup=str(setup_value) if setup_value else None,
        max_turns=max_turns,
        max_budget_usd=budget,
        resume_sessions=bool(config.getoption("roadmap_resume_sessions")),
        roadmap=roadmap,
        project_dir=project_dir,
        phases=phases,
        task_timeout=task_timeout,
        redo=bool(config.getoption("roadmap_redo")),
        dry_run=bool(config.getoption("roadmap_dry_run")),
        commit=not config.getoption("roadmap_no_commit"),
        push=not config.getoption("roadmap_no_commit") and not config.getoption("roadmap_no_push"),
        gates=gates,
        agent_command=str(agent_value) if agent_value else None,
        claude_bin=find_claude(str(bin_value) if bin_value else None),
        claude_args=_as_args(args_value) if args_value else (),
        prompt_template=project_dir / str(template_value) if template_value else None,
        log_dir=project_dir / str(log_value or DEFAULT_LOG_DIR),
        status_dir=status_dir,
    )


def _report_path(value: object, project_dir: Path, status_dir: Path) -> Path | None:
    """The HTML report's path: given (relative to the roadmap's directory), default, or none."""
    if value is None or str(value).strip() == "":
        return status_dir / DEFAULT_REPORT_NAME
    text = str(value).strip()
    return None if text.lower() == "none" else project_dir / text
