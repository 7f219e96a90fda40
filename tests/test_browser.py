"""The start-here notebook works in a real browser: JupyterLab renders the explorer widget and its chart, and
moving the batch-size slider reruns the measurement.

Widgets only come alive with a live kernel and the JupyterLab widget manager, which no kernel-only test can
see (a version drift between ipywidgets and jupyterlab_widgets renders them blank). So this drives a real
JupyterLab in headless Chromium, following the recipe proven in shared/FACTS.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "00_start_here.ipynb"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")

# Every wait is bounded, so a hang fails the test instead of stalling the suite.
SERVER_START_S = 30
KERNEL_IDLE_MS = 30_000
EXPLORER_MS = 60_000  # Run All up to the explorer: imports, two models measured with CodeCarbon
RERUN_MS = 60_000  # one slider move reruns the measurement
HARD_LIMIT_S = 240  # backstop for anything that slips past the timeouts above

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
BATCH_LABEL = re.compile(r"^batch (\d+)\b")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} not installed (apt-get install chromium)"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"jupyter lab exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/api/status", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    pytest.fail(f"jupyter lab did not answer /api/status in {SERVER_START_S} s:\n{log.read_text()[-3000:]}")


def _stop(server: subprocess.Popen) -> None:
    """SIGTERM lets the server shut its kernels down; kill the whole group only if it hangs."""
    if server.poll() is not None:
        return
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=5)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[str]:
    """A JupyterLab on a free port serving a copy of the notebook; yields its base URL."""
    shutil.copy(NOTEBOOK, tmp_path / NOTEBOOK.name)
    # Without this settings file the "Would you like to receive Jupyter news?" toast covers the page
    # (the news_url flag does not remove it).
    settings = tmp_path / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    env = {
        **os.environ,
        "LIGHTLAB_QUICK": "1",  # the kernel inherits it: the quick path learners take on Binder
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),  # ignore the developer's ~/.jupyter
    }
    port = _free_port()
    log = tmp_path / "server.log"
    with log.open("w") as out:
        # A new session makes the server a process-group leader, so a hung server and its kernels can be
        # killed together.
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyterlab",
                "--no-browser",
                f"--port={port}",
                "--ip=127.0.0.1",
                "--ServerApp.token=",
                "--ServerApp.password=",
                "--allow-root",
                f"--notebook-dir={tmp_path}",
                f"--LabApp.workspaces_dir={tmp_path / 'ws'}",
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            ],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_ready(url, server, log)
        yield url
    finally:
        _stop(server)


@pytest.fixture
def hard_limit() -> Iterator[None]:
    """Fail (rather than hang) if the whole test overruns; every wait has its own, shorter timeout too."""

    def overrun(_signum, _frame):
        raise TimeoutError(f"browser test ran longer than {HARD_LIMIT_S} s")

    previous = signal.signal(signal.SIGALRM, overrun)
    signal.alarm(HARD_LIMIT_S)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _wait_for_explorer(page, label, timeout_ms: int) -> None:
    """Wait for the explorer's label, failing early with the traceback if a cell other than an exercise errs.

    Run All stops at the first error in an untagged cell (it runs past the exercises, tagged
    raises-exception), so an error above the explorer would otherwise surface as a bare timeout.
    """
    # JupyterLab renders tracebacks with the stderr MIME type; warnings on stderr have no "Traceback".
    stderr = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
    deadline = time.monotonic() + timeout_ms / 1000
    while time.monotonic() < deadline:
        if label.count():
            return
        for text in stderr.all_inner_texts():
            # The exercises raise NotImplementedError on purpose.
            if "Traceback" in text and "NotImplementedError" not in text:
                pytest.fail(f"a notebook cell raised before the explorer appeared:\n{text[-3000:]}")
        page.wait_for_timeout(250)
    pytest.fail(f"the explorer's label did not appear within {timeout_ms / 1000:.0f} s of Run All")


def _drive_explorer(page, lab: str) -> tuple[str, str]:
    """Open the notebook, Run All, move the batch slider; return the explorer's label before and after."""
    from playwright.sync_api import expect

    page.set_default_timeout(30_000)
    page.goto(f"{lab}/lab/tree/{NOTEBOOK.name}")

    # The notebook's own indicator says idle before the kernel is attached; running then would open a
    # "Select Kernel" dialog. The status bar only says this once the kernel really is ready.
    expect(page.locator(".jp-StatusBar-Widget").filter(has_text="Python 3 (ipykernel) | Idle").first).to_be_visible(
        timeout=KERNEL_IDLE_MS
    )
    page.locator(".lm-MenuBar-itemLabel").filter(has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel").filter(has_text=re.compile(r"^Run All Cells$")).click()

    # div.widget-label only: a plain .widget-label also matches the sliders' descriptions.
    summary = page.locator("div.widget-label").filter(has_text=BATCH_LABEL)
    label = page.locator(".jp-OutputArea-output").locator(summary)
    _wait_for_explorer(page, label, EXPLORER_MS)
    expect(label).to_have_count(1)
    # The cell output holding the whole explorer (`has` matches descendants of the candidate only).
    explorer = page.locator(".jp-OutputArea-output").filter(has=summary)
    # Plotly draws a throwaway offscreen copy under <body> on each update: look inside the output. The
    # renderer's node carries both .jp-RenderedPlotly and .js-plotly-plot; main-svg exists once it has drawn.
    chart = explorer.locator(".jp-RenderedPlotly.js-plotly-plot .main-svg").first
    # JupyterLab renders only the cells near the view (windowed notebook): an output far below reads as empty text
    # until it is scrolled into view, so scroll first, then read.
    explorer.scroll_into_view_if_needed()
    expect(chart).to_be_visible(timeout=RERUN_MS)
    expect(label).to_have_text(BATCH_LABEL, timeout=RERUN_MS)
    before = label.inner_text()
    page.screenshot(path=ARTIFACTS / "browser_explorer_before.png")

    slider = explorer.locator(".widget-slider").filter(has_text="batch size")
    expect(slider).to_have_count(1)
    slider.locator(".noUi-handle").focus()
    page.keyboard.press("ArrowRight")  # one step: batch 1 -> 8

    expect(label).not_to_have_text(before, timeout=RERUN_MS)
    after = label.inner_text()
    expect(chart).to_be_visible(timeout=RERUN_MS)
    explorer.scroll_into_view_if_needed()
    page.screenshot(path=ARTIFACTS / "browser_explorer_after.png")
    return before, after


def test_explorer_slider_reruns_measurement(lab: str, hard_limit: None) -> None:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "browser_failure.png").unlink(missing_ok=True)  # a stale one would mislead
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            try:
                before, after = _drive_explorer(page, lab)
            except BaseException:  # pytest.fail raises a BaseException too
                # Keep what the browser showed when it went wrong, without masking the real error.
                with contextlib.suppress(Exception):
                    page.screenshot(path=ARTIFACTS / "browser_failure.png", timeout=10_000)
                raise
        finally:
            browser.close()

    print(f"before: {before}\nafter:  {after}")
    first, second = BATCH_LABEL.match(before), BATCH_LABEL.match(after)
    assert first and second, (before, after)
    assert first.group(1) == "1", f"the explorer should start at batch 1: {before!r}"
    assert second.group(1) != first.group(1), f"the label changed but not its batch size: {after!r}"
