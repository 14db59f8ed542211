"""``telesim dashboard``: serve the interactive what-if page (Mesa SolaraViz, the ``app`` package).

    telesim dashboard [--port 8765] [--host 127.0.0.1]

It runs ``solara run app.page --production`` from the repository root (with solara's telemetry
off unless ``SOLARA_TELEMETRY_MIXPANEL_ENABLE`` is set) and serves until interrupted (Ctrl-C).
The page's JavaScript and CSS come from the ``solara-assets`` package, so no CDN is needed. The
page is bound to the local machine by default: anyone who can reach the port can run the model on
this machine.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from cli.options import tcp_port

#: Repository root (this file is ``<root>/cli/dashboard_cmd.py``).
ROOT = Path(__file__).resolve().parents[1]
#: The page, as a module name (solara imports it; the page never imports this package).
APP_MODULE = "app.page"
DEFAULT_PORT = 8765
DEFAULT_HOST = "127.0.0.1"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "dashboard",
        help="serve the interactive what-if page (Mesa SolaraViz) on localhost",
        description="Serve the what-if page: move the levers, run to end-2021 and compare with "
        "the baseline. Open the printed address in a browser; Ctrl-C stops the server.",
    )
    p.add_argument(
        "--port",
        type=tcp_port,
        default=DEFAULT_PORT,
        help=f"TCP port to listen on, 1-65535 (default: {DEFAULT_PORT})",
    )
    p.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"address to bind (default: {DEFAULT_HOST}, this machine only)",
    )
    return p


def server_command(host: str, port: int) -> list[str]:
    """The solara command line that serves the page."""
    return [
        sys.executable,
        "-m",
        "solara",
        "run",
        APP_MODULE,
        "--host",
        host,
        "--port",
        str(port),
        "--production",
        "--no-open",
    ]


def run(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("solara") is None:
        print(
            "telesim dashboard: error: solara is not installed; install the page's extras with "
            "`pip install -e '.[app]'` (make test installs them)",
            file=sys.stderr,
        )
        return 1
    host = str(args.host)
    if host not in LOCAL_HOSTS:
        print(
            f"telesim dashboard: warning: binding {host}: anyone who can reach this address can "
            "run the model here",
            file=sys.stderr,
        )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    # a local tool: no usage statistics sent to solara's telemetry service (the user may opt in)
    env.setdefault("SOLARA_TELEMETRY_MIXPANEL_ENABLE", "false")
    url_host = f"[{host}]" if ":" in host else host
    print(
        f"telesim dashboard: serving the what-if page at http://{url_host}:{args.port}/ "
        "(the first page load runs the baseline, a few seconds; Ctrl-C stops)",
        flush=True,
    )
    return subprocess.run(server_command(host, args.port), cwd=ROOT, env=env).returncode
