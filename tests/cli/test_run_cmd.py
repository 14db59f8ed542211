"""`telesim run`: the run folder it writes, and clear one-line errors for bad options."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from cli import main as cli
from cli import run_cmd

try:  # the model is written in parallel; everything below needs it except the parser tests
    from model import simulate  # noqa: F401

    HAVE_MODEL = True
except ImportError:  # pragma: no cover - only while the model is not there yet
    HAVE_MODEL = False

needs_model = pytest.mark.skipif(not HAVE_MODEL, reason="model.simulate is not importable yet")

ROOT = Path(__file__).resolve().parents[2]
EXPECTED_FILES = {
    "weekly.parquet",
    "by_region.parquet",
    "by_platform.parquet",
    "by_age.parquet",
    "metadata.json",
    "acts.png",
}
TINY = ["--seed", "3", "--end", "2018-12-31"]


def _run(argv, capsys):
    rc = cli.main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    """One tiny run shared by the content checks."""
    if not HAVE_MODEL:
        pytest.skip("model.simulate is not importable yet")
    out = tmp_path_factory.mktemp("runs") / "tiny"
    assert cli.main(["run", "--scenario", "baseline", *TINY, "--out", str(out)]) == 0
    return out


@needs_model
def test_run_writes_every_file(run_folder):
    assert {p.name for p in run_folder.iterdir()} == EXPECTED_FILES
    assert [p.name for p in run_folder.parent.iterdir()] == ["tiny"]  # no temporary left over
    assert (run_folder / "acts.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@needs_model
def test_run_tables(run_folder):
    weekly = pd.read_parquet(run_folder / "weekly.parquet")
    for col in ("week_start", "acts", "adopting_doctors", "patients_ever"):
        assert col in weekly.columns
    assert pd.Timestamp(weekly["week_start"].iloc[0]) == pd.Timestamp("2018-09-15")
    assert pd.Timestamp(weekly["week_start"].iloc[-1]) <= pd.Timestamp("2018-12-31")
    for name, cols in {
        "by_region": {"week_start", "region_code", "region", "acts", "adopting_doctors"},
        "by_platform": {"week_start", "platform", "acts"},
        "by_age": {"week_start", "age_band", "acts", "new_patients"},
    }.items():
        table = pd.read_parquet(run_folder / f"{name}.parquet")
        assert cols <= set(table.columns), name


@needs_model
def test_run_metadata(run_folder):
    meta = json.loads((run_folder / "metadata.json").read_text())
    assert meta["seed"] == 3 and meta["end"] == "2018-12-31"
    assert meta["scenario"]["name"] == "baseline"
    assert isinstance(meta["scale"], int) and meta["scale"] >= 1
    assert set(meta["versions"]) >= {"python", "mesa", "numpy", "pandas", "scipy", "pyarrow"}
    assert all(meta["versions"].values())
    assert set(meta["git"]) == {"commit", "dirty"}
    assert meta["uncertainties_source"]
    from model.params import Levers, Uncertainties

    Uncertainties.from_dict(meta["uncertainties"])  # round-trips through the validator
    assert Levers.from_dict(meta["levers"]) == Levers()
    assert meta["command"][:2] == ["telesim", "run"]
    assert meta["wall_time_s"]["total"] >= meta["wall_time_s"]["simulate"] >= 0
    assert set(meta["annual_acts"]) == {"2018"}


@needs_model
def test_same_seed_same_tables_and_failed_rerun_keeps_folder(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    assert _run(["run", *TINY, "--out", str(out)], capsys)[0] == 0
    first = pd.read_parquet(out / "weekly.parquet")
    assert _run(["run", *TINY, "--out", str(out)], capsys)[0] == 0  # replaces the folder
    pd.testing.assert_frame_equal(pd.read_parquet(out / "weekly.parquet"), first)

    def broken_figure(*args, **kwargs):
        raise RuntimeError("figure failed")

    monkeypatch.setattr(run_cmd, "acts_figure", broken_figure)
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    with pytest.raises(RuntimeError):
        cli.main(["run", "--seed", "4", "--end", "2018-12-31", "--out", str(out)])
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


@needs_model
def test_uncertainties_file(tmp_path, capsys):
    from model.params import Uncertainties

    values = Uncertainties().to_dict()
    values["choice_level"] = -3.0
    path = tmp_path / "u.json"
    path.write_text(json.dumps({"uncertainties": values, "loss": 0.1}))
    out = tmp_path / "run"
    rc, stdout, _ = _run(["run", *TINY, "--out", str(out), "--uncertainties", str(path)], capsys)
    assert rc == 0
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["uncertainties"]["choice_level"] == -3.0
    assert str(path) in meta["uncertainties_source"]
    assert "run folder" in stdout


@pytest.mark.parametrize(
    "argv, option",
    [
        (["--scale", "0"], "--scale"),
        (["--scale", "two"], "--scale"),
        (["--end", "31/12/2021"], "--end"),
        (["--seed", "-1"], "--seed"),
    ],
)
def test_parser_rejects_bad_values(argv, option, capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        cli.main(["run", *argv, "--out", str(tmp_path / "x")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert option in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()


@needs_model
@pytest.mark.parametrize(
    "argv, words",
    [
        (["--scenario", "no_such_scenario"], ["--scenario", "no_such_scenario"]),
        (["--end", "2035-01-01"], ["--end", "2030-12-31"]),
        (["--end", "2018-01-01"], ["--end", "2018-09-15"]),
        (["--uncertainties", "missing.json"], ["--uncertainties"]),
    ],
)
def test_bad_inputs_exit_2_with_one_line(argv, words, capsys, tmp_path):
    rc, out, err = _run(["run", *argv, "--out", str(tmp_path / "x")], capsys)
    assert rc == 2
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("telesim run: error: ")
    for word in words:
        assert word in err
    assert not (tmp_path / "x").exists()


@needs_model
@pytest.mark.parametrize(
    "content, words",
    [
        ({"no_such_field": 1}, ["--uncertainties", "no_such_field"]),
        ({"choice_level": 99.0}, ["--uncertainties", "choice_level", "99"]),
        ("[1, 2]", ["--uncertainties"]),
        ("{not json", ["--uncertainties", "JSON"]),
        ('{"choice_level": Infinity}', ["--uncertainties", "choice_level", "not finite"]),
        (b'{"choice_level": \xff}', ["--uncertainties", "not UTF-8"]),
    ],
)
def test_bad_uncertainties_file(content, words, capsys, tmp_path):
    path = tmp_path / "u.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content if isinstance(content, str) else json.dumps(content))
    rc, _, err = _run(
        ["run", *TINY, "--uncertainties", str(path), "--out", str(tmp_path / "x")], capsys
    )
    assert rc == 2, err
    for word in words:
        assert word in err
    assert not (tmp_path / "x").exists()


def test_help_lists_run():
    res = subprocess.run(
        [sys.executable, "-m", "cli", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )
    assert res.returncode == 0 and "run" in res.stdout


def test_missing_command_module_is_skipped(monkeypatch):
    monkeypatch.setattr(cli, "COMMAND_MODULES", ["cli.run_cmd", "cli.not_written_yet"])
    parser = cli.build_parser()
    assert cli.main.__module__ == "cli.main"
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(sub.choices) == {"run"}


@needs_model
@pytest.mark.parametrize(
    "body, words",
    [
        (b'description = "x"\n[levers]\npharmacy_points = inf\n', ["levers.pharmacy_points"]),
        (b'description = "x"\n[levers]\ncoverage_rate = 1' + b"0" * 400 + b"\n", ["coverage_rate"]),
        (b'description = "x"\n[levers]\ncoverage_rate = 0.' + b"\xff\xfe\n", ["not UTF-8"]),
        (b'description = "x"\n[levers]\npharmacy_points = ' + b"9" * 5000 + b"\n", ["TOML"]),
        (b"", ["description"]),
    ],
)
def test_a_malformed_scenario_file_exits_2_with_one_line(body, words, capsys, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_bytes(body)
    rc, _, err = _run(["run", "--scenario", str(bad), "--out", str(tmp_path / "x")], capsys)
    assert rc == 2
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("telesim run: error: --scenario ")
    for word in [str(bad), *words]:
        assert word in err
    assert not (tmp_path / "x").exists()
