"""The settings table: every option, ini setting, environment variable and front matter key
of a roadmap run, declared once, as a field of the frozen :class:`Settings`.

Precedence, highest first: command line, environment variable, the roadmap's YAML front
matter, the ini file, the default. ``docs/options.md`` is generated from this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pytest_roadmap.settings import parse
from pytest_roadmap.settings.declare import Setting
from pytest_roadmap.settings.declare import declared
from pytest_roadmap.settings.declare import setting

ISOLATION_MODES = ("shared", "worktree")
LIVE_MODES = ("auto", "on", "off")
ORDER_MODES = ("auto", "longest-first", "roadmap")
#: the agent presets (built in pytest_roadmap.agents.presets)
AGENT_PRESETS = ("claude", "codex", "command")
REPORT_NAME = "roadmap-report.html"
#: the report's default: in the status directory, wherever that is
REPORT_IN_STATUS_DIR = Path("<status dir>") / REPORT_NAME


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything a run needs to know, resolved once per process."""

    roadmap: Path = setting(
        "run the roadmap in this Markdown file: one test item per task, gate and commit",
        parse.path,
        ini=None,
        metavar="PATH",
        key="roadmap",
    )
    project_dir: Path = Path()  # the roadmap's directory
    phases: frozenset[int] | None = setting(
        "only these phases, e.g. '2', '2-3' or '1,3'", parse.phases, metavar="SPEC"
    )
    task_timeout: float = setting(
        "seconds an agent may run before its process tree is killed",
        parse.task_timeout,
        3600.0,
        env="TASK_TIMEOUT",
        metavar="SECONDS",
        aliases=("--task-timeout",),
    )
    redo: bool = setting(
        "ignore recorded completion (status files, cache) and run everything selected again",
        parse.flag,
        False,
        ini=None,
        cli="flag",
    )
    dry_run: bool = setting(
        "run no agent and no gate and write no file; each item reports what it would do",
        parse.flag,
        False,
        ini=None,
        cli="flag",
    )
    status_only: bool = setting(
        "print the progress table from status files, cache and git history; run nothing",
        parse.flag,
        False,
        ini=None,
        cli="flag",
        key="roadmap_status",
    )
    no_commit: bool = setting(
        "do not commit after each phase (nor push)", parse.flag, False, ini=None, cli="flag"
    )
    no_push: bool = setting(
        "commit after each phase but do not push", parse.flag, False, ini=None, cli="flag"
    )
    gates: tuple[str, ...] | None = setting(  # None: the npm scripts that exist
        "gate command lines run after each group (default: the npm scripts that exist)",
        parse.lines,
        ini="linelist",
        cli="append",
        metavar="CMD",
        cli_help="a gate command line; repeat for several (replaces roadmap_gates)",
        option="--roadmap-gate",
    )
    no_gates: bool = setting(
        "run no gate commands (each group's gate item passes at once)",
        parse.flag,
        False,
        ini=None,
        cli="flag",
    )
    agent: str = setting(
        "the coding agent: 'claude' (Claude Code, the default), 'codex' (OpenAI's Codex CLI) "
        "or 'command' (roadmap_agent_command)",
        parse.choice(AGENT_PRESETS, "agent"),
        "claude",
        choices=AGENT_PRESETS,
    )
    agent_command: str | None = setting(
        "command line of another agent than Claude Code; '{prompt_file}' is replaced by a "
        "file holding the prompt, otherwise the prompt comes on stdin",
        parse.text,
        metavar="CMD",
    )
    agent_bin: str | None = setting(
        "the agent's binary for the codex agent (default: 'codex' on PATH)",
        parse.text,
        cli=None,
    )
    agent_args: tuple[str, ...] = setting(
        "extra arguments for the codex agent", parse.args, (), ini="args", cli=None
    )
    claude_bin: str | None = setting(
        "the Claude Code CLI to run (default: 'claude' on PATH)",
        parse.text,
        env="CLAUDE_BIN",
        cli=None,
    )
    claude_args: tuple[str, ...] = setting(
        "extra arguments for the Claude Code CLI", parse.args, (), ini="args", cli=None
    )
    prompt_template: Path | None = setting(
        "file with the prompt template; placeholders: {task_id} {task_title} {task_text} "
        "{group_id} {group_title} {phase_number} {phase_title} {siblings} {roadmap_path} "
        "{checks}",
        parse.path,
        cli=None,
    )
    isolation: str = setting(
        "'shared': every agent works in the project's tree; 'worktree': each task in its own "
        "git worktree and branch, merged in roadmap order before the gate",
        parse.choice(ISOLATION_MODES, "isolation"),
        "shared",
        choices=ISOLATION_MODES,
    )
    worktree_setup: str | None = setting(
        "command line run in each new worktree before its agent (e.g. 'npm ci')",
        parse.text,
        cli=None,
    )
    max_turns: int | None = setting(
        "passed to Claude Code as --max-turns",
        parse.positive(int, "max turns"),
        metavar="N",
        key="roadmap_claude_max_turns",
    )
    max_budget_usd: float | None = setting(
        "passed to Claude Code as --max-budget-usd (per task)",
        parse.positive(float, "budget"),
        metavar="USD",
    )
    resume_sessions: bool = setting(
        "re-run a task that failed or timed out after its session started with "
        "--resume <session id> and a short 'continue' prompt",
        parse.flag,
        False,
        ini=None,
        cli="flag",
    )
    fix_attempts: int = setting(
        "repair agents started, one after another, when a gate fails",
        parse.count,
        1,
        metavar="N",
    )
    retries: int = setting(
        "retries of a task after a transient agent failure: HTTP 429/5xx, a crash",
        parse.count,
        2,
        metavar="N",
    )
    retry_backoff: float = setting(
        "seconds before the first retry; doubled for each further one",
        parse.seconds,
        5.0,
        cli=None,
    )
    stagger: float = setting(
        "seconds between agent starts of a burst under xdist (the starts after a quiet "
        "minute), so agents don't all call the API at once",
        parse.seconds,
        0.5,
        metavar="SECONDS",
    )
    run_budget_usd: float | None = setting(
        "stop starting tasks once the roadmap's agents have spent this many USD in all",
        parse.positive(float, "budget"),
        metavar="USD",
    )
    memfree: int | None = setting(  # bytes; None: no memory guard
        "start a new agent only while the machine has this much memory available (512M, 2G); "
        "one agent always runs",
        parse.memory,
        env="ROADMAP_MEMFREE",
        metavar="SIZE",
    )
    live: str = setting(
        "live view of the running tasks: 'auto' on a terminal (not in CI, not with -q), "
        "'on' or 'off'",
        parse.choice(LIVE_MODES, "live view"),
        "auto",
        env="ROADMAP_LIVE",
        choices=LIVE_MODES,
    )
    idle_timeout: float = setting(  # 0: never
        "seconds an agent may print nothing before it is ended and retried as stalled; 0: never",
        parse.seconds,
        900.0,
        env="ROADMAP_IDLE_TIMEOUT",
        metavar="SECONDS",
    )
    limit_wait: float = setting(
        "longest wait for a usage limit to reset before the run stops instead; 0: never wait",
        parse.seconds,
        6 * 3600.0,
        env="ROADMAP_LIMIT_WAIT",
        metavar="SECONDS",
    )
    limit_poll: float = setting(
        "seconds before trying again after a usage limit with no reset time",
        parse.positive(float, "poll interval"),
        15 * 60.0,
        cli=None,
    )
    notify: tuple[str, ...] = setting(
        "command lines run on each run event (group passed/failed, phase committed, usage "
        "limit wait, run stopped/finished) with ROADMAP_EVENT and ROADMAP_MESSAGE in their "
        "environment, or Apprise URLs (ntfy://topic, json://host/path...) the event is sent to",
        parse.lines,
        (),
        ini="linelist",
        cli="append",
        metavar="CMD",
        cli_help="a command line run on each run event, or an Apprise URL; repeat for several",
    )
    notify_timeout: float = setting(
        "seconds a notify command may take before it is ended",
        parse.positive(float, "notify timeout"),
        30.0,
        cli=None,
    )
    services: tuple[str, ...] | None = setting(  # None: 'up' from the compose file, if any
        "command lines that bring the project's services up once before the first agent "
        "(default with a compose file: 'docker compose up -d --wait'); 'none' turns them off",
        parse.services,
        ini="linelist",
        cli="append",
        metavar="CMD",
        cli_help="a services command line; repeat for several (replaces roadmap_services)",
    )
    services_down: tuple[str, ...] = setting(
        "command lines run at the end of the run when services were started",
        parse.lines,
        (),
        ini="linelist",
        cli=None,
    )
    require_env: bool = setting(
        "with .env.example (or .env.sample) in the project, require a .env",
        parse.flag,
        True,
        cli=None,
    )
    log_dir: Path = setting(
        "directory of the agents' and gates' logs, relative to the roadmap's directory",
        parse.path,
        Path("logs/orchestrator"),
        cli=None,
    )
    status_dir: Path = setting(
        "directory of the status files, relative to the roadmap's directory",
        parse.path,
        Path("status"),
        cli=None,
    )
    report: Path | None = setting(  # None: no report
        "the HTML report with the run's timeline, kept current during the run, relative to "
        "the roadmap's directory; 'none': no report",
        parse.report,
        REPORT_IN_STATUS_DIR,
        metavar="PATH",
    )
    order: str = setting(
        "order of a group's tasks when more are ready than agents free: 'roadmap', "
        "'longest-first' (by estimate) or 'auto' (longest first where estimates exist)",
        parse.choice(ORDER_MODES, "order"),
        "auto",
        choices=ORDER_MODES,
    )
    remote: str | None = setting(
        "git URL that remote --tx workers clone and push task branches to",
        parse.text,
        cli=None,
    )
    # checks that prove a task done
    test_command: str | None = setting(  # None: chosen by the project's kind (steps/checks.py)
        "command line that runs the test paths and node ids a task's checks name, '{tests}' "
        "replaced by them (default: 'npm test -- {tests}' with a package.json and no Python "
        "project file, else 'python -m pytest {tests}' with the Python that runs pytest)",
        parse.text,
        cli=None,
    )
    task_checks: tuple[str, ...] = setting(
        "check command lines every task gets after its own; '{task_id}' is replaced",
        parse.lines,
        (),
        ini="linelist",
        cli=None,
    )
    no_checks: bool = setting(
        "run no task checks: a task passes when its agent ends well",
        parse.flag,
        False,
        ini=None,
        cli="flag",
    )
    check_attempts: int = setting(
        "rounds a task's agent gets to make its checks pass; after a failing round its "
        "session continues with the check's output",
        parse.positive(int, "check attempts"),
        2,
        metavar="N",
    )
    task_may_edit_checks: bool = setting(
        "let a task change or delete the files its checks name (otherwise the round fails "
        "and the file is put back)",
        parse.flag,
        False,
        cli=None,
    )
    task_gate: tuple[str, ...] | None = setting(  # None: the group's gate commands
        "with worktree isolation: command lines run in each task's worktree after its checks "
        "pass, before its branch is merged (default: the group's gate commands); 'none' "
        "turns this off",
        parse.services,
        ini="linelist",
        cli=None,
    )
    # spending the allowance
    usage_reserve: float = setting(
        "keep this percentage of the subscription's allowance: while a window's last reported "
        "use is at or above 100 minus it, no new task starts until that window resets; 0: off",
        parse.percent,
        0.0,
        env="ROADMAP_USAGE_RESERVE",
        metavar="PERCENT",
    )
    model: str | None = setting(
        "the model of every task that names none (nor its group): Claude Code's --model "
        "(haiku, sonnet, opus or a model id), Codex's -m, the command preset's {model}",
        parse.text,
        metavar="MODEL",
    )
    model_escalation: tuple[str, ...] = setting(
        "models a task moves up through, one line each (e.g. sonnet, then opus): after a "
        "failed round the task continues on the next",
        parse.lines,
        (),
        ini="linelist",
        cli=None,
    )
    gate_jobs: int = setting(
        "gate commands run at the same time ('auto': one per CPU); a gate command line '---' "
        "is an order barrier: the commands before it finish first",
        parse.jobs,
        1,
        metavar="N|auto",
    )
    repair_model: str | None = setting(
        "the model of the repair agents of a failing gate (default: as the group's tasks)",
        parse.text,
        metavar="MODEL",
    )
    # what protects the work
    allow_destructive_git: bool = setting(
        "let agents in the shared tree run destructive git commands (reset, checkout --, "
        "restore, clean, stash, switch, rebase, push --force, commit --amend), which "
        "Claude Code's permission rules refuse by default",
        parse.flag,
        False,
        cli="flag",
    )
    # the project's tests kept
    test_paths: tuple[str, ...] = setting(
        "gitignore-style patterns of the project's test files, added to the test runners' "
        "conventions (a first line 'replace' uses only these)",
        parse.lines,
        (),
        ini="linelist",
        cli=None,
    )
    allow_test_removal: bool = setting(
        "deleting or skipping a test that existed before the group is a warning, not a refusal",
        parse.flag,
        False,
        cli="flag",
    )

    @property
    def commit(self) -> bool:
        """Commit after each phase."""
        return not self.no_commit

    @property
    def push(self) -> bool:
        """Push each phase's commit."""
        return not (self.no_commit or self.no_push)

    @property
    def uses_claude(self) -> bool:
        """True when the agent is the Claude Code CLI."""
        return self.agent == "claude"


#: every setting, in the table's order
SETTINGS: tuple[Setting, ...] = declared(Settings)
BY_FIELD: dict[str, Setting] = {spec.field: spec for spec in SETTINGS}
