"""The scripts that made the committed calibration's last step import against today's code and
say how to call them (their runs take minutes: docs/calibration.md gives the figures)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "script", ["refine_stage_a.py", "refit_stage_b.py", "write_stage_b.py", "refresh_record.py"]
)
def test_the_script_imports_and_prints_its_usage(script):
    done = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "examples" / script)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1  # sys.exit(usage)
    assert f"python docs/examples/{script}" in done.stderr
