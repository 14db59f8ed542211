"""``telesim dashboard``: its options and the solara command line it runs (the page itself is
tested in ``tests/app``)."""

from __future__ import annotations

import pytest

from cli.dashboard_cmd import server_command
from cli.main import build_parser


def test_dashboard_options_and_server_command():
    args = build_parser().parse_args(["dashboard"])
    assert (args.host, args.port) == ("127.0.0.1", 8765)
    args = build_parser().parse_args(["dashboard", "--port", "9001", "--host", "localhost"])
    assert (args.host, args.port) == ("localhost", 9001)
    for bad in ("0", "70000", "http"):
        with pytest.raises(SystemExit) as exc:
            build_parser().parse_args(["dashboard", "--port", bad])
        assert exc.value.code == 2
    cmd = server_command("127.0.0.1", 9001)
    assert cmd[1:5] == ["-m", "solara", "run", "app.page"]
    assert "--production" in cmd and cmd[cmd.index("--port") + 1] == "9001"
