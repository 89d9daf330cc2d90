"""`h100sim app`: serve the browser app (viz/app.py) with Solara, on loopback by default.

The page's JavaScript and CSS come from Solara's asset proxy cache (``SOLARA_ASSETS_PROXY_CACHE_DIR``,
filled from the npm registry by ``python -m viz.assets``; ``make app`` does both). If the cache is
not complete, this command tries to fill it first; without it, an offline machine shows a blank page.
The app and the asset fetcher run as subprocesses by path and module name: viz/ sits above
experiments/, so nothing here imports it.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import socket
import subprocess
import sys
from pathlib import Path

from model.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "viz" / "app.py"
#: the file viz.assets writes last, once the cache is complete
COMPLETE = ".complete"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def default_cache_dir() -> Path:
    env = os.environ.get("SOLARA_ASSETS_PROXY_CACHE_DIR")
    return Path(env) if env else ROOT / ".cache" / "solara-assets"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help=f"address to listen on (default {DEFAULT_HOST}, this machine only)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"TCP port (default {DEFAULT_PORT})")
    parser.add_argument("--assets", type=Path, default=None, metavar="DIR",
                        help="Solara's asset cache (default: $SOLARA_ASSETS_PROXY_CACHE_DIR or "
                             ".cache/solara-assets in the repository)")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_port(host: str, port: int) -> None:
    if not 1 <= port <= 65535:
        raise InputError(f"--port {port} is not allowed; expected 1..65535")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as err:
            raise InputError(f"cannot listen on {host}:{port} ({err.strerror}); "
                             "pass another --port or --host") from None


def server_env(cache_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["SOLARA_ASSETS_PROXY_CACHE_DIR"] = str(cache_dir.resolve())
    env["SOLARA_TELEMETRY_MIXPANEL_ENABLE"] = "False"
    env.setdefault("MPLBACKEND", "Agg")
    # The app imports model/, agents/ and viz/ from this checkout.
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


def solara_command(host: str, port: int) -> list[str]:
    return [sys.executable, "-m", "solara", "run", str(APP), "--host", host, "--port", str(port),
            "--production", "--no-open", "--no-check-version"]


def ensure_assets(cache_dir: Path) -> None:
    if (cache_dir / COMPLETE).is_file():
        return
    print(f"h100sim app: fetching the page's JavaScript into {cache_dir} (once)", file=sys.stderr)
    proc = subprocess.run([sys.executable, "-m", "viz.assets", "--cache-dir", str(cache_dir)],
                          env=server_env(cache_dir), stdout=2, cwd=ROOT)
    if proc.returncode != 0:
        print("h100sim app: warning: the assets were not fetched (see above)\nh100sim app: "
              "without these files the page stays blank on a machine without CDN access",
              file=sys.stderr)


def execute(args: argparse.Namespace) -> int:
    host, port = args.host, args.port
    check_port(host, port)
    if not is_loopback(host):
        print(f"h100sim app: warning: listening on {host}, not loopback: anyone who can reach "
              "this machine can run the model", file=sys.stderr)
    cache_dir = args.assets or default_cache_dir()
    ensure_assets(cache_dir)
    url_host = f"[{host}]" if ":" in host else host
    print(f"h100sim app: http://{url_host}:{port}/  (Ctrl-C to stop)", file=sys.stderr)
    proc = subprocess.Popen(solara_command(host, port), env=server_env(cache_dir))
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        raise
