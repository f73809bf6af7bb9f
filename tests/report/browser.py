"""Headless Chromium for the report tests: Debian's `chromium` package, installed by ensure_chromium.sh
when it is absent."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
WINDOW = (1400, 2600)


def chromium() -> str:
    proc = subprocess.run(["sh", str(HERE / "ensure_chromium.sh")], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"could not install chromium:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    return proc.stdout.strip().splitlines()[-1]


def run_chromium(browser: str, url: str, *mode: str, window: tuple[int, int] = WINDOW) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        return subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--hide-scrollbars", f"--window-size={window[0]},{window[1]}", *mode, url],
            capture_output=True, text=True, timeout=180, check=False,
        )


def dump_dom(page: Path) -> str:
    """The DOM Chromium built from ``page``, as a person's browser would hold it."""
    dom = run_chromium(chromium(), page.resolve().as_uri(), "--dump-dom")
    assert dom.returncode == 0 and "</html>" in dom.stdout, dom.stderr[-2000:]
    return dom.stdout
