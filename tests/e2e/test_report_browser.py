"""The HTML report in a real browser: headless chromium renders what a run at -n 3 wrote.

The run uses the fake agent (the report does not depend on which agent ran). Chromium
comes from Debian's package (``tools/install_chromium.sh``, run by ``.ci/run``); when it
is missing the test skips, or fails under CI=true.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from ..conftest import FAKE_AGENT
from ..conftest import Project

BROWSER_TIMEOUT = 90  # seconds one chromium run may take
RUN_TIMEOUT = 180

ROADMAP = """\
# Browser roadmap

## Phase 1: Build

### Group A: Three at once
- **A1: Slow one** - a1
- **A2: Retried** - a2
- **A3: Quick** - a3

### Group B: Next
- **B1: Watcher** - b1
- **B2: Plain** - b2
"""


@pytest.fixture(scope="module")
def chromium() -> str:
    """The headless browser; missing: skip, or fail when CI=true."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        msg = "chromium not found (tools/install_chromium.sh installs Debian's package)"
        if os.environ.get("CI") == "true":
            pytest.fail(msg, pytrace=False)
        pytest.skip(msg)
    return found


def browse(chromium: str, page: Path, profile: Path, *args: str) -> str:
    """Run headless chromium on ``page``; its stdout. Bounded; the whole group is killed."""
    argv = [
        chromium,
        "--headless",
        "--no-sandbox",  # as root (CI) chromium refuses to start without it
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        "--host-resolver-rules=MAP * ~NOTFOUND",  # nothing may be fetched from anywhere
        f"--user-data-dir={profile}",
        *args,
        page.as_uri(),
    ]
    with subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as proc:
        try:
            out, err = proc.communicate(timeout=BROWSER_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            pytest.fail(f"chromium took more than {BROWSER_TIMEOUT}s on {page.name}")
    assert proc.returncode == 0, err[-2000:]
    return out


def png_colours(data: bytes) -> int:
    """How many distinct colours an 8-bit RGB or RGBA PNG has (zlib only, no dependency)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, b""
    width = height = channels = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
    raw = zlib.decompress(idat)
    stride = width * channels
    previous = bytearray(stride)
    colours: set[bytes] = set()
    for row in range(height):
        start = row * (stride + 1)
        method, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            if method == 1:
                line[i] = (line[i] + left) & 0xFF
            elif method == 2:
                line[i] = (line[i] + up) & 0xFF
            elif method == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif method == 4:
                corner = previous[i - channels] if i >= channels else 0
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                best = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + best) & 0xFF
        colours.update(bytes(line[i : i + channels]) for i in range(0, stride, channels * 7))
        previous = line
    return len(colours)


def bars(dom: str) -> list[str]:
    """``kind:step`` of every bar in the rendered DOM."""
    found = re.findall(r'<g class="bar (\w+) [^"]*" data-step="([^"]+)"', dom)
    return sorted(f"{kind}:{step}" for kind, step in found)


def test_chromium_renders_the_report_of_a_run_at_n3(
    project: Project, chromium: str, tmp_path: Path
) -> None:
    project.roadmap(ROADMAP)
    project.pytester.makeini("[pytest]\nroadmap_retry_backoff = 0.2\n")
    counter = tmp_path / "a2-counter"
    plan = {
        "A1": ["--sleep", "2"],
        # a transient failure (HTTP 529, no result) the first time: A2 gets a second attempt
        "A2": [
            "--stream-json",
            "--api-retry",
            "529",
            "--fail-first",
            "1",
            "--counter",
            str(counter),
        ],
        "A3": ["--sleep", "0.3"],
        "B2": ["--sleep", "1"],
    }
    report = "status/roadmap-report.html"
    wait = (
        f"for i in $(seq 600); do grep -q 'class=\"bar gate passed\"' {report} && break; "
        f"sleep 0.1; done; cp {report} mid-run.html"
    )
    fake = shlex.join([sys.executable, str(FAKE_AGENT)])
    agent = shlex.join(["sh", "-c", f'if [ "$ROADMAP_TASK_ID" = B1 ]; then {wait}; fi; {fake}'])
    result = project.run("-n", "3", agent=agent, plan=plan, timeout=RUN_TIMEOUT)
    assert result.ret == 0, result.stdout.str()[-3000:]

    page = project.path / report
    dom = browse(chromium, page, tmp_path / "profile", "--dump-dom")
    assert bars(dom) == [
        "agent:A1",
        "agent:A2",
        "agent:A2",
        "agent:A3",
        "agent:B1",
        "agent:B2",
        "commit:commit 1",
        "gate:gate 1·A",
        "gate:gate 1·B",
    ]
    assert re.search(r'class="bar agent passed retry" data-step="A2"', dom)
    assert re.search(r'class="bar agent failed" data-step="A2"', dom)
    assert ">gw0</text>" in dom and ">gw1</text>" in dom and ">gw2</text>" in dom
    assert "finished" in dom
    for text in (dom, page.read_text(encoding="utf-8")):
        for banned in ("<script", "<link", "src=", "url(", "@import", "http:", "https:"):
            assert banned not in text, banned

    shot = tmp_path / "report.png"
    browse(chromium, page, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,720")
    colours = png_colours(shot.read_bytes())
    assert colours >= 8, f"the screenshot looks blank: {colours} colours"
    keep = os.environ.get("ROADMAP_KEEP_SCREENSHOT")
    if keep:
        shutil.copyfile(shot, keep)

    # while the run went on, right after group A: the page showed it, and said it was running
    mid = browse(chromium, project.path / "mid-run.html", tmp_path / "profile", "--dump-dom")
    assert {"agent:A1", "agent:A3", "gate:gate 1·A"} <= set(bars(mid))
    assert "agent:B2" not in bars(mid) or "running" in mid
    assert "running" in mid
