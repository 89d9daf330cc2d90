"""Shared fixtures. The browser pieces import Playwright only when a browser test asks for them,
so this file imports (and `make test-fast` runs) on a machine without Chromium.

Browser tests: mark them ``@pytest.mark.browser`` and ``@pytest.mark.xdist_group("browser")`` so
that `pytest -n 2 --dist loadgroup` runs them in one worker, which then starts the app server and
Chromium once (session fixtures) for all of them.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "viz" / "app.py"
CHROMIUM = Path("/usr/bin/chromium")
#: Headless Chromium flags that work here (shared/RECIPES.md).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: Lines in the server log that mean the app broke (a Python error, or an asset the offline
#: proxy cache lacks).
LOG_FAILURES = re.compile(r"Traceback|Could not load URL")
SERVER_START_TIMEOUT = 120.0


def assets_dir() -> Path:
    """Solara's proxy cache: from the environment (the Makefile exports it) or the default."""
    env = os.environ.get("SOLARA_ASSETS_PROXY_CACHE_DIR")
    return Path(env) if env else ROOT / ".cache" / "solara-assets"


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SolaraServer:
    """`solara run APP` in its own process group on a loopback port, log to a file."""

    def __init__(self, app: Path, log_path: Path, port: int | None = None,
                 host: str = "127.0.0.1"):
        self.app = Path(app)
        self.log_path = Path(log_path)
        self.host = host
        self.port = port or free_port()
        self.url = f"http://{host}:{self.port}/"
        self.proc: subprocess.Popen | None = None
        self._log_file = None

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["SOLARA_ASSETS_PROXY_CACHE_DIR"] = str(assets_dir())
        env["SOLARA_TELEMETRY_MIXPANEL_ENABLE"] = "False"
        env["MPLBACKEND"] = "Agg"
        env["PYTHONUNBUFFERED"] = "1"
        # The app imports the project's packages from the repository, not a stale install.
        env["PYTHONPATH"] = os.pathsep.join(
            [str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
        return env

    def start(self, timeout: float = SERVER_START_TIMEOUT) -> None:
        solara = Path(sys.executable).with_name("solara")
        cmd = [str(solara) if solara.exists() else sys.executable, "run", str(self.app),
               "--host", self.host, "--port", str(self.port),
               "--production", "--no-open", "--no-check-version"]
        if not solara.exists():
            cmd = [sys.executable, "-m", "solara", *cmd[1:]]
        self._log_file = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env(), stdin=subprocess.DEVNULL,
                                     stdout=self._log_file, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        last_error: object = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"solara exited with code {self.proc.returncode} before "
                                   f"serving; log:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url, timeout=5) as resp:
                    if resp.status == 200:
                        return
                    last_error = resp.status
            except (urllib.error.URLError, OSError) as err:
                last_error = err
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"solara did not answer HTTP 200 at {self.url} within {timeout:.0f} s "
                           f"(last: {last_error}); log:\n{self.log()}")

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM to the whole process group, SIGKILL after `grace` seconds."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=grace)
        # Children that outlived the leader (none expected) go with the group too.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_failures(self) -> list[str]:
        """Lines of the server log matching LOG_FAILURES (with the rest of a traceback)."""
        text = self.log()
        hits = []
        lines = text.splitlines()
        for i, line in enumerate(lines):
            if LOG_FAILURES.search(line):
                hits.append("\n".join(lines[i:i + 30]))
        return hits

    def assert_log_clean(self) -> None:
        failures = self.log_failures()
        assert not failures, "server log has errors:\n" + "\n---\n".join(failures)


def _require_browser_setup() -> None:
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (run `make browser`)")
    if not (assets_dir() / ".complete").exists():
        missing.append(f"the offline app assets in {assets_dir()} (run `make assets`)")
    if missing:
        pytest.fail("browser tests need " + " and ".join(missing), pytrace=False)


@pytest.fixture(scope="session")
def app_server(tmp_path_factory):
    """The real app (viz/app.py) served by `solara run` on a free loopback port."""
    _require_browser_setup()
    log_dir = tmp_path_factory.mktemp("solara-server")
    server = SolaraServer(APP, log_dir / "server.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()
        # Keep the log next to the tests' other output for a failed CI run.
        sys.stderr.write(f"\n[app_server] log kept at {server.log_path}\n")


@pytest.fixture(scope="session")
def chromium():
    """Headless Debian Chromium driven by Playwright's sync API (one per xdist worker)."""
    _require_browser_setup()
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    try:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    except Exception:
        pw.stop()
        raise
    try:
        yield browser
    finally:
        browser.close()
        pw.stop()


@pytest.fixture
def browser_context(chromium):
    """A fresh browser context (own cookies, so its own Solara session) per test."""
    context = chromium.new_context(viewport={"width": 1600, "height": 1100})
    context.set_default_timeout(30_000)
    try:
        yield context
    finally:
        context.close()
