"""Fuzzed uncertainty files: every malformed JSON parameter file gets ``ParameterError`` naming it.

Three hundred files made by mutating valid ones (fixed seed): a flat object of values, and a
calibration file (``calibration/calibrated.json``, values under ``uncertainties``). Values are
replaced by infinities, NaN, huge integers, wrong types (strings, arrays, objects, null,
booleans, dates), names misspelt, text truncated, invalid UTF-8 and binary junk inserted, or the
file emptied. :func:`model.load_uncertainties` (``telesim run --uncertainties``) and
:func:`model.best_uncertainties` (``$TELESIM_UNCERTAINTIES``, ``calibrated.json``) either return
the uncertainties or raise :class:`model.ParameterError` whose message names the file.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from model import ParameterError, Uncertainties, best_uncertainties, load_uncertainties
from model.simulate import CALIBRATED_FILE, UNCERTAINTIES_ENV

N_FILES = 300
SEED = 20180915

#: JSON values that are wrong for an uncertainty (as text, spliced into the file).
BAD_VALUES = [
    "Infinity",
    "-Infinity",
    "NaN",
    "1e400",
    "-1e400",
    "1" + "0" * 400,
    str(2**70),
    "9" * 5000,
    "-1",
    "1e-320",
    '"0.1"',
    '""',
    '"2019-01-01"',
    "null",
    "true",
    "false",
    "[]",
    "[0.1]",
    "{}",
    '{"a": 1}',
    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[0]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
]
JUNK = [b"\x00", b"\xff", b"\xc3\x28", b"\x80", b"\xe2\x82", b"\xef\xbb\xbf", b"\x1a"]


def _sources() -> list[str]:
    flat = json.dumps(Uncertainties().to_dict(), indent=1)
    nested = json.dumps({"uncertainties": Uncertainties().to_dict(), "loss": 1.0}, indent=1)
    sources = [flat, nested]
    if CALIBRATED_FILE.is_file():
        sources.append(CALIBRATED_FILE.read_text(encoding="utf-8"))
    return sources


def _mutate(rng: random.Random, text: str) -> bytes:
    lines = text.splitlines()
    value_lines = [i for i, line in enumerate(lines) if '": ' in line]
    kind = rng.randrange(7)
    if kind <= 2 and value_lines:  # a value replaced
        i = rng.choice(value_lines)
        key, value = lines[i].split('": ', 1)
        comma = "," if value.rstrip().endswith(",") else ""
        lines[i] = f'{key}": {rng.choice(BAD_VALUES)}{comma}'
    elif kind == 3 and value_lines:  # a name misspelt
        i = rng.choice(value_lines)
        lines[i] = lines[i].replace('": ', '_x": ', 1)
    elif kind == 4:  # truncated
        text = text[: rng.randrange(len(text) + 1)]
        return text.encode()
    elif kind == 5:  # another JSON value at the top
        return rng.choice(["[]", "1", '"text"', "null", "true", "[{}]", "{}"]).encode()
    else:  # binary junk
        data = text.encode()
        at = rng.randrange(len(data) + 1)
        return data[:at] + b"".join(rng.choice(JUNK) for _ in range(rng.randint(1, 3))) + data[at:]
    return "\n".join(lines).encode()


def fuzzed_files(directory: Path) -> list[Path]:
    rng = random.Random(SEED)
    sources = _sources()
    paths = []
    for k in range(N_FILES):
        data = b"" if k % 50 == 0 else _mutate(rng, rng.choice(sources))
        path = directory / f"fuzz_{k:03d}.json"
        path.write_bytes(data)
        paths.append(path)
    return paths


def _loads_or_names_the_file(read, path: Path) -> bool:
    """True when ``read()`` loads, False when it raises the clear error naming ``path``."""
    try:
        result = read()
    except ParameterError as exc:
        assert str(path) in str(exc), str(exc)
        return False
    assert isinstance(result, Uncertainties)
    return True


def test_every_fuzzed_uncertainty_file_loads_or_gets_the_clear_error(tmp_path, monkeypatch):
    paths = fuzzed_files(tmp_path)
    outcomes = [_loads_or_names_the_file(lambda p=p: load_uncertainties(p), p) for p in paths]
    assert 0 < sum(outcomes) < 0.5 * N_FILES  # most mutations break the file, a few do not
    # $TELESIM_UNCERTAINTIES reads the same way (a sample: every tenth file)
    for path, ok in list(zip(paths, outcomes, strict=True))[::10]:
        monkeypatch.setenv(UNCERTAINTIES_ENV, str(path))
        assert _loads_or_names_the_file(lambda: best_uncertainties()[0], path) == ok


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ('{"repeat_odds": Infinity}', ["repeat_odds", "not finite"]),
        ('{"repeat_odds": NaN}', ["repeat_odds", "not finite"]),
        ('{"repeat_odds": 1' + "0" * 400 + "}", ["repeat_odds", "outside the allowed range"]),
        ('{"uncertainties": {"choice_level": "high"}}', ["choice_level", "not a number"]),
        ('{"choice_level": [1]}', ["choice_level", "not a number"]),
        ('{"choice_level": true}', ["choice_level", "not a number"]),
        ('{"choice_level": ' + "9" * 5000 + "}", ["not valid JSON"]),
        ("[1, 2]", ["must hold a JSON object"]),
        ('{"choice_child": 0.5}', ["choice_child", "choice_child_gap = choice_child - 4"]),
        ('{"choice_young": 0.5}', ["choice_young", "choice_young_gap = choice_young - choice_age"]),
        ('{"choice_logit": -3.6}', ["choice_logit", "choice_level = choice_logit + 0.35"]),
        (
            '{"choice_young_gap": 1}',
            ["choice_young_gap", "senior_gap = choice_young_gap - choice_age"],
        ),
        ('{"open_share": 0.01}', ["open_share", "open_share_urban = logistic(logit(open_share)"]),
        ('{"p_external": 0.1}', ["p_external", "external_rate_urban = p_external x open_share_u"]),
        ("", ["not valid JSON"]),
    ],
)
def test_the_error_names_the_file_and_the_field(tmp_path, content, words):
    path = tmp_path / "u.json"
    path.write_text(content)
    with pytest.raises(ParameterError) as info:
        load_uncertainties(path)
    assert str(path) in str(info.value)
    for word in words:
        assert word in str(info.value)


def test_binary_junk_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "u.json"
    path.write_bytes(b'{"choice_level": \xff\xfe}')
    with pytest.raises(ParameterError, match="not UTF-8"):
        load_uncertainties(path)
