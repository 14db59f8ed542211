"""Fuzzed scenario files: every malformed file gets the project's clear error, never another.

1,000 files made by mutating the shipped scenario files (fixed seed): values replaced by
infinities, NaN, huge integers, wrong types (strings, arrays, tables, dates and times for
numbers, numbers for dates, booleans), unknown keys, truncated text, invalid UTF-8 and binary
junk, empty files. Each one either loads or raises :class:`ScenarioError` naming the file.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from experiments.scenarios import SCENARIO_DIR, Scenario, ScenarioError, load_scenario

N_FILES = 1000
SEED = 20240915

#: TOML values that are wrong somewhere (and right elsewhere).
BAD_VALUES = [
    "inf",
    "-inf",
    "nan",
    "+nan",
    "1e400",
    "-1e400",
    "1" + "0" * 400,  # 10**400: no float holds it
    "-" + "1" + "0" * 400,
    str(2**70),
    str(2**63),
    "9" * 5000,  # longer than Python reads as an int by default
    "0",
    "-1",
    "1.5",
    "30001",
    "5e-324",
    '"text"',
    '""',
    '"none"',
    '"2019-01-01"',
    '"2019-02-30"',
    "[1, 2]",
    "[]",
    "{ a = 1 }",
    "{}",
    "2019-01-01",
    "1900-01-01",
    "2099-12-31",
    "2019-01-01T07:32:00",
    "2019-01-01T07:32:00Z",
    "07:32:00",
    "true",
    "false",
    "0x10",
    "0b1",
    "1_000",
    '"""multi\nline"""',
]
#: Whole lines that are wrong in a scenario file.
BAD_LINES = [
    "unknown_key = 1",
    "group = 3",
    'group = "nonsense"',
    "description = 5",
    'description = ""',
    "levers = 1",
    "uncertainties = [1]",
    "[levers.nested]",
    "[[levers]]",
    "[uncertainties]\nrepeat_odds = inf",
    "[uncertainties]\nno_such_field = 1",
    "[uncertainties]\nchoice_level = " + "1" + "0" * 400,
    "[levers]\npharmacy_points = inf",
    "[levers]\npharmacy_points = " + str(2**70),
    "[levers]\ncoverage_rate = 1e400",
    "[levers]\nknown_patient_rule_until = 20",
    "[levers]\ndoctolib = 1",
    "[levers]\ndoctolib_launch = true",
    "[levers]\nequipment_subsidy_from = 07:00:00",
    "a = [[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]",
]
JUNK = [b"\x00", b"\xff\xfe", b"\xc3\x28", b"\x80abc", b"\xe2\x82", b"\x1b[0m", b"\r", b"\x7f"]


def _mutate(rng: random.Random, text: str) -> bytes:
    """One mutation, or two, of a valid scenario file's text."""
    lines = text.splitlines()
    for _ in range(rng.choice((1, 1, 1, 2))):
        kind = rng.randrange(8)
        value_lines = [i for i, line in enumerate(lines) if "=" in line]
        if kind <= 2 and value_lines:  # a value replaced by a bad one
            i = rng.choice(value_lines)
            key = lines[i].split("=", 1)[0]
            lines[i] = f"{key}= {rng.choice(BAD_VALUES)}"
        elif kind == 3:  # a bad line inserted anywhere
            lines.insert(rng.randrange(len(lines) + 1), rng.choice(BAD_LINES))
        elif kind == 4 and value_lines:  # a key renamed
            i = rng.choice(value_lines)
            key, value = lines[i].split("=", 1)
            lines[i] = f"{key.strip()}_x ={value}"
        elif kind == 5:  # truncated
            joined = "\n".join(lines)
            lines = joined[: rng.randrange(len(joined) + 1)].splitlines()
        elif kind == 6:  # a line dropped
            if lines:
                del lines[rng.randrange(len(lines))]
        else:  # binary junk inserted into the bytes
            data = "\n".join(lines).encode()
            at = rng.randrange(len(data) + 1)
            junk = b"".join(rng.choice(JUNK) for _ in range(rng.randint(1, 4)))
            return data[:at] + junk + data[at:]
    return "\n".join(lines).encode()


def fuzzed_files(directory: Path) -> list[Path]:
    rng = random.Random(SEED)
    sources = [p.read_text(encoding="utf-8") for p in sorted(SCENARIO_DIR.glob("*.toml"))]
    paths = []
    for k in range(N_FILES):
        if k % 100 == 0:
            data = b""  # an empty file
        elif k % 100 == 1:
            data = bytes(rng.randrange(256) for _ in range(rng.randint(1, 200)))  # pure junk
        else:
            data = _mutate(rng, rng.choice(sources))
        path = directory / f"fuzz_{k:04d}.toml"
        path.write_bytes(data)
        paths.append(path)
    return paths


def test_every_fuzzed_scenario_loads_or_gets_the_clear_error(tmp_path):
    loaded = refused = 0
    for path in fuzzed_files(tmp_path):
        try:
            scenario = load_scenario(str(path))
        except ScenarioError as exc:
            assert str(path) in str(exc), str(exc)
            assert "\n" not in str(exc).strip() or "TOML" in str(exc), str(exc)
            refused += 1
        else:
            assert isinstance(scenario, Scenario)
            loaded += 1
    assert loaded + refused == N_FILES
    # the mutations are meant to break files: most are refused, a few stay valid
    assert refused > 0.7 * N_FILES and loaded > 0


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ("pharmacy_points = inf", "levers.pharmacy_points"),
        ("pharmacy_points = nan", "levers.pharmacy_points"),
        ("pharmacy_points = " + str(2**70), "levers.pharmacy_points"),
        ("coverage_rate = " + "1" + "0" * 400, "levers.coverage_rate"),
        ("coverage_rate = -1e400", "levers.coverage_rate"),
        ("doctolib_launch = 2019-01-01T07:00:00", "levers.doctolib_launch"),
        ("doctolib_launch = 07:00:00", "levers.doctolib_launch"),
        ("doctolib_launch = 20", "levers.doctolib_launch"),
        ("doctolib = 1", "levers.doctolib"),
    ],
)
def test_the_error_names_the_file_and_the_field(tmp_path, line, field):
    path = tmp_path / "bad.toml"
    path.write_text(f'description = "x"\n[levers]\n{line}\n')
    with pytest.raises(ScenarioError) as info:
        load_scenario(str(path))
    assert str(path) in str(info.value) and field in str(info.value)
