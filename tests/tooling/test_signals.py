"""SIGTERM stops every command as Ctrl-C does (issue 16): `h100sim validate --workers 2` ends its
worker processes, `h100sim app` ends its Solara server and frees its port; one line on stderr and
exit code 143. The tests send the signal to a real process (loopback only) and wait, bounded, for
a state to be reached rather than for a time to pass.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from experiments.cli import EXIT_TERMINATED, Terminated, sigterm_stops

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}

TARGETS = """
[[target]]
id = "spot"
metric = "spot_price"
window = ["2023-01-01", "2023-06-01"]
stat = "max"
op = "between"
value = [0.1, 100.0]
source = "test"
"""


def _start(argv: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "experiments.cli", *argv], cwd=cwd, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _wait_for(predicate, proc: subprocess.Popen, what: str, limit_s: float = 180.0) -> None:
    deadline = time.monotonic() + limit_s
    while not predicate():
        assert proc.poll() is None, f"exited before {what}: {proc.communicate()}"
        assert time.monotonic() < deadline, f"no {what} within {limit_s} s"
        time.sleep(0.1)


def _stop(proc: subprocess.Popen) -> tuple[str, str]:
    try:
        proc.send_signal(signal.SIGTERM)
        return proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:  # the test failed: do not leave it behind
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _alive(pids: list[int]) -> list[int]:
    out = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except psutil.NoSuchProcess:
            pass
    return out


@pytest.fixture
def reap():
    """Pids to kill at teardown if a failed test left them running."""
    pids: list[int] = []
    yield pids
    for pid in _alive(pids):
        os.kill(pid, signal.SIGKILL)


def test_sigterm_in_python_is_a_keyboard_interrupt_of_its_own():
    """Terminated takes every Ctrl-C clean-up path (it is a KeyboardInterrupt) and the handler is
    put back afterwards."""
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated), sigterm_stops():
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1000):  # the handler runs between bytecodes
            time.sleep(0.01)
    assert issubclass(Terminated, KeyboardInterrupt)
    assert signal.getsignal(signal.SIGTERM) == before


def test_validate_with_two_workers_ends_its_workers_on_sigterm(tmp_path, reap):
    (tmp_path / "t.toml").write_text(TARGETS)
    proc = _start(["validate", "--targets", "t.toml", "--seeds", "40", "--workers", "2",
                   "--quiet"], tmp_path)
    me = psutil.Process(proc.pid)
    workers: list[int] = []

    def two_workers_up() -> bool:
        workers[:] = [c.pid for c in me.children(recursive=True)
                      if "spawn_main" in " ".join(c.cmdline())]
        return len(workers) >= 2

    _wait_for(two_workers_up, proc, "two worker processes")
    reap.extend(workers)
    _, err = _stop(proc)
    assert proc.returncode == EXIT_TERMINATED == 143, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines == ["h100sim validate: terminated (SIGTERM); workers and servers stopped"], err
    assert _alive(workers) == [], "worker processes left behind"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _accepts(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.slow
def test_app_ends_its_server_and_frees_its_port_on_sigterm(tmp_path, reap):
    assets = tmp_path / "assets"
    assets.mkdir()
    (assets / ".complete").write_text("")  # no fetching: the page is not loaded here
    port = _free_port()
    proc = _start(["app", "--port", str(port), "--assets", str(assets)], tmp_path)
    _wait_for(lambda: _accepts(port), proc, f"server on 127.0.0.1:{port}")
    server = [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
    assert server, "no server process"
    reap.extend(server)
    _, err = _stop(proc)
    assert proc.returncode == EXIT_TERMINATED, err
    assert err.strip().splitlines()[-1] == ("h100sim app: terminated (SIGTERM); workers and "
                                            "servers stopped"), err
    assert _alive(server) == [], "the Solara server was left running"
    with socket.socket() as s:  # the port is free again
        s.bind(("127.0.0.1", port))
