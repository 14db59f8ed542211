"""Where a result came from: package versions and the git commit of the code that made it."""

from __future__ import annotations

import platform
import subprocess
from collections.abc import Iterable
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any


def package_versions(names: Iterable[str]) -> dict[str, str | None]:
    """``{"python": version, name: version or None, ...}`` for the installed packages."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git(root: str | Path, *args: str) -> str | None:
    """The stripped output of ``git -C root ARGS``; None when git fails or is missing."""
    try:
        res = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return res.stdout.strip() if res.returncode == 0 else None


def git_info(root: str | Path) -> dict[str, Any]:
    """``{"commit": sha or None, "dirty": bool or None}`` for the checkout whose top is ``root``.

    Both are None when ``root`` is not the top of a git checkout (an installed copy, say).
    """
    top = git(root, "rev-parse", "--show-toplevel")
    if top is None or Path(top).resolve() != Path(root).resolve():
        return {"commit": None, "dirty": None}
    commit = git(root, "rev-parse", "HEAD")
    status = git(root, "status", "--porcelain")
    return {"commit": commit, "dirty": None if status is None else bool(status)}
