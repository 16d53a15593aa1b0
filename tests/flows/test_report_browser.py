"""The run report and the Prefect UI's picture of a run, checked in a real browser (headless Chromium): two real
runs against a real Prefect server with its UI, `textdrops report`, then both pages opened, their charts
counted and their console errors collected. TEXTDROPS_SCREENSHOTS=docs refreshes the README's screenshots."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import polars as pl
import pytest

from tests.browser import Browser, chromium_path
from tests.conftest import SEEDS, make_drop
from tests.flows.test_serve_e2e import _free_port

BIN = Path(sys.executable).parent
SAMPLE_DROP = Path(__file__).resolve().parents[2] / "data" / "raw" / "2016-03-15"
# the Prefect UI's own requests for icons it does not ship (404s on every page of it): not the artifact's doing
PREFECT_UI_OWN_ERRORS = ("/favicon.ico", "/ico/undefined.svg")

pytestmark = pytest.mark.skipif(
    chromium_path() is None,
    reason="no chromium on PATH: `make test` installs Debian's chromium when run as root with apt-get; "
    "else install it (apt-get install chromium) to run the browser test",
)


@pytest.fixture
def prefect_server(tmp_path):
    """A real `prefect server start` with its UI (the test harness serves the API only)."""
    port = _free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "true",
        "TEXTDROPS_RUN_PICTURE": "on",  # what this test looks at (the suite turns it off elsewhere)
    }
    env.pop("PREFECT_SERVER_ALLOW_EPHEMERAL_MODE", None)
    log = tmp_path / "server.log"
    server = subprocess.Popen(
        [BIN / "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the Prefect server did not start:\n{log.read_text()[-3000:]}")
            time.sleep(1)
        yield f"http://127.0.0.1:{port}", env
    finally:
        server.terminate()
        server.wait(30)


@pytest.fixture
def browser():
    b = Browser(width=1100, height=1300)
    yield b
    b.close()


def _textdrops(env: dict, *args) -> str:
    done = subprocess.run([BIN / "textdrops", *map(str, args)], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _screenshot(browser: Browser, name: str, tmp_path: Path) -> None:
    browser.screenshot(tmp_path / name)
    if folder := os.environ.get("TEXTDROPS_SCREENSHOTS"):
        shutil.copy(tmp_path / name, Path(folder) / name)


def _chart_marks(browser: Browser, selector: str) -> list[int]:
    """Drawn marks (paths, rects, symbols) inside each chart matched by `selector`."""
    return browser.evaluate(
        f"Array.from(document.querySelectorAll({selector!r})).map(s => s.querySelectorAll('path, rect').length)"
    )


def test_report_and_prefect_run_page_render_in_chromium(prefect_server, browser, tmp_path):
    ui, env = prefect_server
    out = tmp_path / "out"
    second = make_drop(
        tmp_path / "raw",
        "2016-03-16",
        {**{p.name: p.read_bytes() for p in SEEDS.glob("*.txt")}, "empty.txt": b"", "blank.txt": "\n \n"},
    )
    _textdrops(env, "run", SAMPLE_DROP, "--out", out)
    _textdrops(env, "run", second, "--out", out)
    report = tmp_path / "report.html"
    assert "Report written to" in _textdrops(env, "report", "--out", out, "--to", report)

    page = report.read_text(encoding="utf-8")
    assert "<script" not in page and "http://" not in page.replace("http://www.w3.org", "")  # opens offline
    browser.open(report.as_uri())
    marks = _chart_marks(browser, "figure svg")
    # latest run: funnel, seconds, reference dates, stories; across runs: documents, duplicate rate,
    # quarantine rate by reason, run time (the second drop's documents are all duplicates: no entities)
    assert len(marks) >= 8 and min(marks) > 5, marks
    text = browser.evaluate("document.body.innerText")
    assert "Latest run: drop 2016-03-16" in text
    assert "quarantined: empty_file" in page and "Quarantine rate by reason" in page
    assert browser.errors == []
    _screenshot(browser, "report.png", tmp_path)

    browser.errors.clear()
    flow_run_id = pl.read_parquet(out / "runs" / "drop_id=2016-03-16" / "*.parquet")["flow_run_id"][0]
    browser.open(f"{ui}/runs/flow-run/{flow_run_id}", ready="document.querySelector('li.p-tab#artifacts')")
    browser.evaluate("document.querySelector('li.p-tab#artifacts').click()")
    browser.settle(3)
    cards = browser.evaluate("document.body.innerText")
    assert "run-report-2016-03-16" in cards and "run-summary-2016-03-16" in cards
    # the card links to the artifact's page, where the markdown's data-URI images are drawn
    artifacts = httpx.post(
        f"{ui}/api/artifacts/filter", json={"artifacts": {"key": {"any_": ["run-report-2016-03-16"]}}}
    ).json()
    assert artifacts[0]["flow_run_id"] == flow_run_id
    browser.open(
        f"{ui}/artifacts/artifact/{artifacts[0]['id']}",
        ready="document.querySelectorAll('img[src^=\"data:image/png\"]').length >= 3 && "
        "Array.from(document.images).every(i => i.complete)",
    )
    sizes = browser.evaluate("Array.from(document.images).map(i => [i.naturalWidth, i.naturalHeight])")
    assert len(sizes) >= 3 and all(w > 200 and h > 100 for w, h in sizes), sizes
    assert "Run report of drop 2016-03-16" in browser.evaluate("document.body.innerText")
    assert [e for e in browser.errors if not any(own in e for own in PREFECT_UI_OWN_ERRORS)] == []
    _screenshot(browser, "prefect-run.png", tmp_path)
