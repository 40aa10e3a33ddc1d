"""Notify URLs: run events delivered to any service through apprise, the URL (it holds a
token) never shown; the rule that tells a URL from a shell command."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from pytest_roadmap.settings.targets import is_url
from pytest_roadmap.settings.targets import masked
from pytest_roadmap.settings.targets import masked_args

from .conftest import TWO_GROUPS
from .conftest import Project

TIMEOUT = 120
TOKEN = "s3cr3t-t0ken-42"


class Hook:
    """A JSON endpoint on 127.0.0.1 that keeps every body posted to it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                hook.bodies.append(json.loads(self.rfile.read(length) or b"{}"))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.server.server_address[1]}/{TOKEN}/hook"


@pytest.fixture
def hook() -> Iterator[Hook]:
    endpoint = Hook()
    endpoint.thread.start()
    yield endpoint
    endpoint.server.shutdown()
    endpoint.server.server_close()
    endpoint.thread.join(5)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def files_holding(root: Path, text: str) -> list[str]:
    return [
        str(path)
        for path in root.rglob("*")
        if path.is_file() and text.encode() in path.read_bytes()
    ]


# -- the rule ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "url"),
    [
        ("ntfy://my-topic", True),
        ("json://127.0.0.1:8080/hook?+X-Token=abc&-field=1", True),
        ("mailto://user:pass@example.invalid", True),
        ("curl -d done https://ntfy.invalid/topic", False),
        ("./notify.sh", False),
        ('notify-send "roadmap" "$ROADMAP_MESSAGE"', False),
    ],
)
def test_a_url_alone_is_a_url_and_everything_else_a_command(value: str, url: bool) -> None:
    assert is_url(value) is url


@pytest.mark.parametrize(
    ("value", "syntax"),
    [
        ("ntfy://topic; rm -rf x", ";"),
        ("ntfy://topic&&echo", "&&"),
        ("slack://tokenA tokenB", "a blank"),
    ],
)
def test_a_url_with_shell_syntax_is_refused_in_one_line(value: str, syntax: str) -> None:
    with pytest.raises(pytest.UsageError) as info:
        is_url(value, "roadmap_notify")
    message = str(info.value)
    assert f"({syntax})" in message and "\n" not in message
    assert value.split("://")[1].split()[0] not in message  # the URL's secret part is not shown


def test_urls_are_masked_in_arguments() -> None:
    args = ["--roadmap-notify", "ntfy://tok", "--roadmap-notify=json://h/tok", "-o", "x=1"]
    names = ("--roadmap-notify", "roadmap_notify")
    assert masked_args([*args, "-o", "roadmap_notify=slack://a/b/c"], names) == [
        "--roadmap-notify",
        "ntfy://***",
        "--roadmap-notify=json://***",
        "-o",
        "x=1",
        "-o",
        "roadmap_notify=slack://***",
    ]
    assert masked("echo hi") == "echo hi"


# -- runs ----------------------------------------------------------------------------------


def test_events_reach_a_json_endpoint_and_the_url_appears_in_no_output(
    project: Project, hook: Hook
) -> None:
    project.roadmap(TWO_GROUPS)
    xml = project.path / "junit.xml"
    result = project.run(
        "-n",
        "2",
        "--roadmap-notify",
        hook.url,
        f"--junitxml={xml}",
        agent=project.agent("--stream-json"),
        plan={"C1": ["--exit", "1"]},  # a failure: the summary prints the resume command
        timeout=TIMEOUT,
    )
    out, err = result.stdout.str(), result.stderr.str()
    assert result.ret == 1, out
    titles = [body["title"] for body in hook.bodies]
    assert titles == [
        "roadmap: group_passed",
        "roadmap: group_passed",
        "roadmap: phase_committed",
        "roadmap: group_failed",
        "roadmap: run_finished",
    ]
    assert hook.bodies[-1]["message"].startswith("roadmap run finished: 3 passed, 1 failed")
    assert "--roadmap-notify 'json://***'" in out  # the resume command
    for shown in (out, err):
        assert TOKEN not in shown
    assert files_holding(project.path, TOKEN) == []  # logs, status, report, JUnit XML, cache


def test_an_endpoint_that_is_down_is_a_masked_warning(project: Project) -> None:
    project.roadmap(TWO_GROUPS)
    url = f"json://127.0.0.1:{closed_port()}/{TOKEN}"
    result = project.run("--roadmap-notify", url, timeout=TIMEOUT)
    out = result.stdout.str()
    assert result.ret == 0, out
    assert "warning: notify URL json://*** (group_passed) could not be delivered" in out
    assert TOKEN not in out + result.stderr.str()


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("ntfy://topic;echo", "ambiguous notify value from roadmap_notify: ntfy://*** starts"),
        ("nosuchservice://x/y", "roadmap_notify: nosuchservice://*** is no URL apprise knows"),
    ],
)
def test_a_bad_notify_url_stops_before_the_run(project: Project, value: str, error: str) -> None:
    project.roadmap(TWO_GROUPS)
    result = project.run("--roadmap-notify", value, timeout=TIMEOUT)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert error in result.stderr.str()
    assert not project.records()
