"""A fake coding agent for the test suite: ``python tests/fake_agent.py [FLAGS]``.

It reads its prompt (stdin until EOF unless stdin is a TTY, or ``--prompt-file``),
then does what its flags say, in this order:

  --stdout TEXT / --stderr TEXT   print a line to stdout / stderr (repeatable)
  --api-retry STATUS              with --stream-json: a system/api_retry event (repeatable)
  --meet DIR                      put our task id in DIR, then wait until DIR holds
                                  --meet-count ids (default 2): agents that must overlap
                                  (at most MEET_TIMEOUT s, then exit 1)
  --not-logged-in                 print a result event like the real CLI's
                                  ("Not logged in · Please run /login", is_error), exit 1
  --fail-first N --counter PATH   exit 1 on the first N runs counted in PATH, then go on
  --hang-first N --counter PATH   print nothing more and hang on the first N runs counted in PATH
  --spawn-grandchild --pid-file P start a SIGTERM-ignoring grandchild in a new session
                                  (its pid goes to P), then hang
  --spawn-orphan --pid-file P     start a sleeping child in our own process group (pid to P)
                                  and go on; it outlives us unless the runner kills it
  --output-bytes N                print N bytes of binary junk (invalid UTF-8, long lines)
  --giant-line N                  print one N-byte line starting with '{' and no newline
  --limit-until EPOCH             while time.time() < EPOCH: meet the account's usage limit the
                                  way Claude Code 2.1 does (a rate_limit_event "rejected", a
                                  synthetic turn, an is_error result "You've hit your 5-hour
                                  limit · resets …"), exit 1
  --limit-reset VALUE             the reset the limit announces: an epoch, or "none" (default:
                                  the --limit-until epoch)
  --limit-form FORM               event (default), old ("Claude AI usage limit reached|<epoch>",
                                  no event) or text ("You've hit your limit · resets 1:05pm
                                  (UTC)", no event)
  --limit-warning EPOCH           first a rate_limit_event "allowed_warning" resetting at EPOCH
  --utilization F                 first a rate_limit_event "allowed" (or "allowed_warning" from
                                  0.9) with the 5-hour window's utilization F (0.95 is 95 %)
  --utilization-reset EPOCH       the reset that event announces (default: none said)
  --utilization-reset-in S        ... or S seconds after this agent started
  --model NAME                    with --stream-json: the model its system/init event names
  --allocate MB                   hold MB megabytes of touched memory (with --sleep: meanwhile)
  --sleep S                       sleep S seconds
  --tick S                        while sleeping: print a stream-json line every S seconds
  --hang                          sleep forever (--ignore-term: ignore SIGTERM too)
  --crash                         SIGKILL ourselves
  --shell COMMAND                 run COMMAND with sh in cwd (repeatable; e.g. the destructive
                                  git reset --hard && git clean -fd); a failure is ignored
  --write PATH[=CONTENT]          write a file relative to cwd (default: task id + newline)
  --resumed-write PATH[=CONTENT]  the same, only in a continued session (after --write)
  --fresh-write PATH[=CONTENT]    the same, only in a new session (after --write)
  --replace PATH|OLD|NEW          replace the text OLD by NEW in the file PATH (repeatable)
  --delete PATH                   delete the file PATH if it exists (repeatable)
  --resolve-conflicts             in a git merge in progress: keep both sides of every
                                  conflict (drop the marker lines) and git add the file
  --stream-json                   claude-like events: system/init, an assistant turn using
                                  Bash, and a result (--subtype NAME, --is-error TEXT)
  --exit N                        exit code (default 0)

Every flag can also come from the environment as FAKE_AGENT_<FLAG> (upper case, '-' as
'_'; '1'/'true'/'yes' for switches). Precedence: environment < argv < FAKE_AGENT_PLAN,
a JSON object mapping a task id (env ROADMAP_TASK_ID) to a list of extra flags for that
task ("<id>+resume": the flags of a run that continues a session, ROADMAP_RESUME_SESSION
set, when there is such a key). Repeatable flags accumulate.

With FAKE_AGENT_RECORD=PATH, each run appends two JSON lines to PATH (one write each,
O_APPEND): {"event": "start"|"end", "task", "start", "end", "pid", "cwd", "prompt",
"argv", "resume", "outcome", "exit_code"}; resume is ROADMAP_RESUME_SESSION; outcome is
null at start, then "ok", "failed", "is_error" or "crash". A hung or killed run has no end line.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import random
import signal
import subprocess
import sys
import time
from typing import Any

SWITCHES = (
    "hang",
    "ignore-term",
    "crash",
    "stream-json",
    "not-logged-in",
    "spawn-grandchild",
    "spawn-orphan",
    "resolve-conflicts",
)
OPTIONS: dict[str, Any] = {
    "prompt-file": str,
    "sleep": float,
    "exit": int,
    "pid-file": str,
    "is-error": str,
    "subtype": str,
    "output-bytes": int,
    "giant-line": int,
    "fail-first": int,
    "hang-first": int,
    "counter": str,
    "limit-until": float,
    "limit-reset": str,
    "limit-form": str,
    "limit-warning": float,
    "utilization": float,
    "model": str,
    "utilization-reset": float,
    "utilization-reset-in": float,
    "allocate": int,
    "tick": float,
    "meet": str,
    "meet-count": int,
}
REPEATABLE: dict[str, Any] = {
    "shell": str,
    "write": str,
    "resumed-write": str,
    "fresh-write": str,
    "replace": str,
    "delete": str,
    "stdout": str,
    "stderr": str,
    "api-retry": int,
}
MEET_TIMEOUT = 60.0
NOT_LOGGED_IN = "Not logged in · Please run /login"
GRANDCHILD = """
import os, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
tmp = sys.argv[1] + ".tmp"
with open(tmp, "w") as f:
    f.write(str(os.getpid()))
os.replace(tmp, sys.argv[1])
while True:
    time.sleep(1)
"""


def env_name(flag: str) -> str:
    return "FAKE_AGENT_" + flag.upper().replace("-", "_")


def build_parser() -> argparse.ArgumentParser:
    """The flags, with defaults taken from FAKE_AGENT_* variables."""
    parser = argparse.ArgumentParser(description="fake coding agent for tests")
    for flag in SWITCHES:
        switch = os.environ.get(env_name(flag), "").lower() in ("1", "true", "yes")
        parser.add_argument(f"--{flag}", action="store_true", default=switch)
    for flag, kind in OPTIONS.items():
        value = os.environ.get(env_name(flag))
        parser.add_argument(f"--{flag}", type=kind, default=None if value is None else kind(value))
    for flag, kind in REPEATABLE.items():
        value = os.environ.get(env_name(flag))
        default = [] if value is None else [kind(value)]
        parser.add_argument(f"--{flag}", type=kind, action="append", default=default)
    return parser


def task_id() -> str:
    return os.environ.get("ROADMAP_TASK_ID", "")


def plan_flags() -> list[str]:
    plan = json.loads(os.environ.get("FAKE_AGENT_PLAN") or "{}")
    key = task_id()
    if os.environ.get("ROADMAP_RESUME_SESSION") and f"{key}+resume" in plan:
        key += "+resume"
    return [str(flag) for flag in plan.get(key, [])]


def read_prompt(args: argparse.Namespace) -> bytes:
    if args.prompt_file:
        with open(args.prompt_file, "rb") as file:
            return file.read()
    if sys.stdin is None or sys.stdin.isatty():
        return b""
    return sys.stdin.buffer.read()


def record(event: str, prompt: bytes, started: float, **fields: Any) -> None:
    """Append one JSON line to $FAKE_AGENT_RECORD in a single write."""
    path = os.environ.get("FAKE_AGENT_RECORD")
    if not path:
        return
    entry = {
        "event": event,
        "task": task_id(),
        "start": started,
        "end": time.time() if event == "end" else None,
        "pid": os.getpid(),
        "cwd": os.getcwd(),
        "prompt": prompt.decode("utf-8", "surrogateescape"),
        "argv": sys.argv[1:],
        "resume": os.environ.get("ROADMAP_RESUME_SESSION"),
        "outcome": None,
        "exit_code": None,
        **fields,
    }
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(entry) + "\n").encode())
    finally:
        os.close(fd)


def emit(event: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def session_id() -> str:
    return f"fake-session-{task_id()}"


def result_event(args: argparse.Namespace, started: float, **fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "result",
        "subtype": args.subtype or "success",
        "is_error": args.is_error is not None,
        "result": args.is_error if args.is_error is not None else f"Done: {task_id()}",
        "session_id": session_id(),
        "num_turns": 2,
        "total_cost_usd": 0.0123,
        "duration_ms": int((time.time() - started) * 1000),
        "usage": {"input_tokens": 100, "output_tokens": 20},
        "permission_denials": [],
    }
    event.update(fields)
    return event


def emit_init(args: argparse.Namespace) -> None:
    if args.stream_json or args.not_logged_in or args.limit_until:
        init = {"type": "system", "subtype": "init", "session_id": session_id(), "cwd": os.getcwd()}
        emit({**init, "model": args.model} if args.model else init)
    for status in args.api_retry:
        emit({"type": "system", "subtype": "api_retry", "error_status": status, "attempt": 1})


def emit_turn(args: argparse.Namespace, started: float) -> None:
    tool_use = {"type": "tool_use", "id": "toolu_fake", "name": "Bash", "input": {"command": ":"}}
    content = [{"type": "text", "text": f"Working on {task_id()}"}, tool_use]
    emit({"type": "assistant", "message": {"role": "assistant", "content": content}})
    emit(result_event(args, started))


def usage_limit(args: argparse.Namespace, started: float) -> None:
    """Claude Code meeting a subscription's usage limit (checked with CLI 2.1.328)."""
    reset_value = args.limit_reset or str(args.limit_until)
    reset = None if reset_value == "none" else float(reset_value)
    clock = time.strftime("%-I:%M%p", time.gmtime(reset)).lower() if reset else ""
    if args.limit_form == "old":
        text = f"Claude AI usage limit reached|{int(reset or 0)}"
    elif args.limit_form == "text":
        text = f"You've hit your limit · resets {clock} (UTC)" if reset else "You've hit your limit"
    else:
        info = {"status": "rejected", "rateLimitType": "five_hour", "isUsingOverage": False}
        if reset is not None:
            info["resetsAt"] = int(reset)
        emit({"type": "rate_limit_event", "rate_limit_info": info, "session_id": session_id()})
        suffix = f" · resets {clock} (UTC)" if reset else ""
        text = f"You've hit your 5-hour limit{suffix}"
    synthetic = {
        "role": "assistant",
        "model": "<synthetic>",
        "content": [{"type": "text", "text": text}],
    }
    emit({"type": "assistant", "message": synthetic})
    emit(
        result_event(
            args,
            started,
            is_error=True,
            result=text,
            num_turns=1,
            total_cost_usd=0,
            api_error_status=429,
            api_error="usage_limit_reached" if args.limit_form in (None, "event") else None,
        )
    )


def emit_utilization(used: float, reset: float | None) -> None:
    """Claude Code 2.1.328's rate_limit_event with the 5-hour window's utilization."""
    window: dict[str, Any] = {
        "status": "allowed_warning" if used >= 0.9 else "allowed",
        "utilization": used,
    }
    if reset:
        window["resetsAt"] = int(reset)
    info = {**window, "rateLimitType": "five_hour", "unifiedWindows": {"five_hour": window}}
    emit({"type": "rate_limit_event", "rate_limit_info": info, "session_id": session_id()})


def sleep(args: argparse.Namespace) -> None:
    """Sleep --sleep seconds; with --tick, print a line now and then meanwhile."""
    if not args.tick:
        time.sleep(args.sleep)
        return
    deadline = time.monotonic() + args.sleep
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(args.tick, left))
        emit({"type": "system", "subtype": "tick"})


def count_run(args: argparse.Namespace) -> int:
    """Count this run in --counter; how many runs were counted before it."""
    if not args.counter:
        sys.exit("fake_agent: --fail-first and --hang-first need --counter PATH")
    fd = os.open(args.counter, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        runs = int(os.read(fd, 100) or b"0")
        os.lseek(fd, 0, os.SEEK_SET)
        os.ftruncate(fd, 0)
        os.write(fd, str(runs + 1).encode())
    finally:
        os.close(fd)
    return runs


def spawn(args: argparse.Namespace, *, new_session: bool) -> None:
    """Start the SIGTERM-ignoring grandchild; wait until it wrote its pid file."""
    if not args.pid_file:
        sys.exit("fake_agent: spawning needs --pid-file PATH")
    subprocess.Popen(
        [sys.executable, "-c", GRANDCHILD, args.pid_file], start_new_session=new_session
    )
    deadline = time.monotonic() + 30
    while not os.path.exists(args.pid_file) and time.monotonic() < deadline:
        time.sleep(0.01)
    print(f"grandchild ready: {args.pid_file}", flush=True)


def junk(size: int) -> None:
    """Write ``size`` bytes of deterministic binary junk, with 2 MiB lines now and then."""
    rng = random.Random(size)
    block = rng.randbytes(1 << 20)
    long_line = b"x" * (2 << 20)
    out = sys.stdout.buffer
    written = 0
    while written < size:
        piece = long_line if written % (8 << 20) == 0 else block
        piece = piece[: size - written]
        out.write(piece)
        written += len(piece)
    out.flush()


def giant_line(size: int) -> None:
    out = sys.stdout.buffer
    out.write(b'{"type": "giant", "pad": "')
    written = 26
    chunk = b"a" * (1 << 20)
    while written < size:
        piece = chunk[: size - written]
        out.write(piece)
        written += len(piece)
    out.flush()


def write_files(specs: list[str]) -> None:
    for spec in specs:
        path, sep, content = spec.partition("=")
        text = content if sep else f"{task_id()}\n"
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        with open(path, "w", encoding="utf-8") as file:
            file.write(text)


def replace_text(specs: list[str]) -> None:
    for spec in specs:
        path, old, new = spec.split("|", 2)
        with open(path, encoding="utf-8") as file:
            text = file.read()
        with open(path, "w", encoding="utf-8") as file:
            file.write(text.replace(old, new))


def delete_files(paths: list[str]) -> None:
    for path in paths:
        if os.path.exists(path):
            os.remove(path)


def git(*args: str) -> str:
    done = subprocess.run(["git", *args], capture_output=True, text=True, check=True, timeout=60)
    return done.stdout


def resolve_conflicts() -> None:
    """Keep both sides of each conflict in the merge in progress, then stage the files."""
    top = git("rev-parse", "--show-toplevel").strip()
    for name in git("diff", "--name-only", "--diff-filter=U").split():
        path = os.path.join(top, name)
        with open(path, encoding="utf-8") as file:
            lines = file.read().splitlines(keepends=True)
        markers = ("<<<<<<< ", "=======", ">>>>>>> ")
        kept = [line for line in lines if not line.startswith(markers)]
        with open(path, "w", encoding="utf-8") as file:
            file.write("".join(kept))
        git("-C", top, "add", "--", name)


def meet(folder: str, count: int) -> bool:
    """Announce our task in ``folder``, then wait (bounded) until ``count`` tasks did."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, task_id() or str(os.getpid())), "w", encoding="utf-8"):
        pass
    deadline = time.monotonic() + MEET_TIMEOUT
    while len(os.listdir(folder)) < count:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def hang(args: argparse.Namespace) -> None:
    if args.ignore_term:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while True:
        time.sleep(3600)


def run(args: argparse.Namespace, prompt: bytes, started: float) -> int:
    for line in args.stdout:
        print(line, flush=True)
    for line in args.stderr:
        print(line, file=sys.stderr, flush=True)
    emit_init(args)
    if args.meet and not meet(args.meet, args.meet_count or 2):
        print(f"fake_agent: nobody met us in {args.meet} within {MEET_TIMEOUT:g}s", flush=True)
        return 1
    if args.limit_warning:
        info = {"status": "allowed_warning", "resetsAt": int(args.limit_warning)}
        emit(
            {"type": "rate_limit_event", "rate_limit_info": {**info, "rateLimitType": "five_hour"}}
        )
    if args.utilization is not None:
        reset_in = args.utilization_reset_in
        emit_utilization(
            args.utilization, started + reset_in if reset_in else args.utilization_reset
        )
    if args.limit_until and time.time() < args.limit_until:
        usage_limit(args, started)
        return 1
    if args.not_logged_in:
        emit(result_event(args, started, is_error=True, result=NOT_LOGGED_IN, num_turns=1))
        return 1
    if args.hang_first and count_run(args) < args.hang_first:
        hang(args)
    if args.fail_first and count_run(args) < args.fail_first:
        print(f"fake_agent: failing on purpose (--fail-first {args.fail_first})", flush=True)
        return 1
    if args.spawn_grandchild or args.spawn_orphan:
        spawn(args, new_session=args.spawn_grandchild)
    if args.output_bytes:
        junk(args.output_bytes)
    if args.giant_line:
        giant_line(args.giant_line)
    held = bytearray((args.allocate or 0) << 20)
    for offset in range(0, len(held), 4096):  # touch every page: resident, not just reserved
        held[offset] = 1
    if args.sleep:
        sleep(args)
    if args.hang or args.spawn_grandchild:
        hang(args)
    if args.crash:
        record("end", prompt, started, outcome="crash")
        os.kill(os.getpid(), signal.SIGKILL)
    for command in args.shell:
        subprocess.run(["sh", "-c", command], check=False, timeout=60)
    write_files(args.write)
    resumed = bool(os.environ.get("ROADMAP_RESUME_SESSION"))
    write_files(args.resumed_write if resumed else args.fresh_write)
    replace_text(args.replace)
    delete_files(args.delete)
    if args.resolve_conflicts:
        resolve_conflicts()
    if args.stream_json:
        emit_turn(args, started)
    return int(args.exit or 0)


def main() -> int:
    started = time.time()
    args = build_parser().parse_args(sys.argv[1:] + plan_flags())
    prompt = read_prompt(args)
    record("start", prompt, started)
    code = run(args, prompt, started)
    outcome = "failed" if code else ("is_error" if args.is_error is not None else "ok")
    record("end", prompt, started, outcome=outcome, exit_code=code)
    return code


if __name__ == "__main__":
    sys.exit(main())
