"""``telesim calibrate``: options and clear errors (no search is run here)."""

from __future__ import annotations

from cli.main import build_parser, main


def test_calibrate_options_parse():
    args = build_parser().parse_args(
        [
            "calibrate",
            "--budget",
            "64",
            "--replicates",
            "3",
            "--workers",
            "2",
            "--until",
            "2019-03-17",
            "--resume",
            "--out",
            "/tmp/x",
        ]
    )
    assert (args.budget, args.replicates, args.workers, args.until, args.resume) == (
        64,
        3,
        2,
        "2019-03-17",
        True,
    )


def test_until_before_every_target_is_a_clear_error(tmp_path, capsys):
    assert main(["calibrate", "--until", "2018-10-01", "--out", str(tmp_path), "--no-save"]) == 2
    assert "no training target ends by then" in capsys.readouterr().err


def test_resume_without_checkpoint_is_a_clear_error(tmp_path, capsys):
    assert main(["calibrate", "--resume", "--out", str(tmp_path / "none"), "--no-save"]) == 2
    assert "no checkpoint" in capsys.readouterr().err


def test_sampler_options_reach_the_settings():
    from cli.calibrate_cmd import settings_from_args

    args = build_parser().parse_args(
        [
            "calibrate",
            "--stages",
            "A,B",
            "--start",
            "point",
            "--tolerance",
            "auto,12.5",
            "--hold",
            "3",
        ]
    )
    settings = settings_from_args(args)
    assert (settings.abc.start, settings.abc.hold) == ("point", 3)
    assert [s.tolerance for s in settings.stages] == ["auto", 12.5]


def test_a_bad_tolerance_is_a_clear_error(capsys):
    import pytest

    with pytest.raises(SystemExit):
        build_parser().parse_args(["calibrate", "--tolerance", "soon"])
    assert "--tolerance" in capsys.readouterr().err


def test_the_default_run_is_stage_a_on_the_committed_calibration():
    """The default fits the 2018-2019 stage only (minutes, not hours) and keeps every other
    uncertainty, the 2020 regime's included, at the committed calibration's values."""
    import json

    from calibration.pipeline import CALIBRATED_JSON
    from cli.calibrate_cmd import settings_from_args

    settings = settings_from_args(build_parser().parse_args(["calibrate"]))
    assert [s.name for s in settings.stages] == ["A"] and settings.replicates == 1
    committed = json.loads(CALIBRATED_JSON.read_text())["uncertainties"]
    assert dict(settings.base)["choice_copay"] == committed["choice_copay"]
    planning = settings_from_args(build_parser().parse_args(["calibrate", "--base", "defaults"]))
    assert planning.base == ()
    recovery = settings_from_args(build_parser().parse_args(["calibrate", "--recovery"]))
    assert recovery.base == ()  # a recovery starts away from its truth (the committed values)


def test_a_budget_below_one_generation_is_a_clear_error(tmp_path, capsys):
    """Stage A has 21 parameters: population 42, so one generation needs 84 evaluations; a
    smaller budget used to evaluate nothing and report loss inf."""
    code = main(["calibrate", "--budget", "30", "--out", str(tmp_path), "--no-save"])
    assert code == 2
    err = capsys.readouterr().err
    assert "--budget: 30 evaluations for stage A" in err and "at least 84" in err
    assert not any(tmp_path.iterdir())  # refused before anything ran or was written
