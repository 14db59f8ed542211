"""The atomic writers leave either the complete new file/folder or the old state, never a part."""

from __future__ import annotations

import json
import os
import stat

import pandas as pd
import pytest

from infra.atomic import (
    atomic_dir,
    atomic_savefig,
    atomic_to_parquet,
    atomic_write,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
)


class Boom(RuntimeError):
    pass


def _listing(path):
    return sorted(p.name for p in path.iterdir())


def test_write_text_bytes_json_roundtrip(tmp_path):
    atomic_write_text(tmp_path / "a.txt", "héllo")
    atomic_write_bytes(tmp_path / "b.bin", b"\x00\x01")
    atomic_write_json(tmp_path / "sub" / "c.json", {"b": 1, "a": [1, 2]})
    assert (tmp_path / "a.txt").read_text(encoding="utf-8") == "héllo"
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    text = (tmp_path / "sub" / "c.json").read_text()
    assert text == json.dumps({"a": [1, 2], "b": 1}, sort_keys=True, indent=2) + "\n"
    assert _listing(tmp_path) == ["a.txt", "b.bin", "sub"]
    mode = stat.S_IMODE(os.stat(tmp_path / "a.txt").st_mode)
    assert mode & 0o044 == 0o666 & ~_umask() & 0o044  # not mkstemp's private 0o600


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_failing_writer_leaves_no_file(tmp_path):
    def writer(tmp):
        tmp.write_text("half of it")
        raise Boom

    with pytest.raises(Boom):
        atomic_write(tmp_path / "out.csv", writer)
    assert _listing(tmp_path) == []


def test_failing_writer_keeps_previous_file(tmp_path):
    target = tmp_path / "out.txt"
    atomic_write_text(target, "old")

    def writer(tmp):
        tmp.write_text("new but broken")
        raise Boom

    with pytest.raises(Boom):
        atomic_write(target, writer)
    assert target.read_text() == "old"
    assert _listing(tmp_path) == ["out.txt"]


def test_unserialisable_json_touches_nothing(tmp_path):
    with pytest.raises(TypeError):
        atomic_write_json(tmp_path / "x.json", {"a": object()}, default=None)
    assert _listing(tmp_path) == []


def test_parquet_roundtrip_and_failure(tmp_path):
    df = pd.DataFrame({"week_start": pd.to_datetime(["2018-09-15", "2018-09-22"]), "acts": [1, 2]})
    atomic_to_parquet(df, tmp_path / "w.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "w.parquet"), df)

    bad = pd.DataFrame({"x": [object(), object()]})  # pyarrow cannot convert plain objects
    with pytest.raises(Exception):  # noqa: B017 - pyarrow's own error type
        atomic_to_parquet(bad, tmp_path / "bad.parquet")
    assert _listing(tmp_path) == ["w.parquet"]


def test_savefig_writes_png_and_cleans_up_on_failure(tmp_path):
    from matplotlib.figure import Figure

    fig = Figure()
    fig.subplots().plot([0, 1], [0, 1])
    atomic_savefig(fig, tmp_path / "f.png")
    assert (tmp_path / "f.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    class Broken:
        def savefig(self, path, **kwargs):
            with open(path, "wb") as fh:
                fh.write(b"\x89PNG partial")
            raise Boom

    with pytest.raises(Boom):
        atomic_savefig(Broken(), tmp_path / "g.png")
    assert _listing(tmp_path) == ["f.png"]


def test_atomic_dir_success_replaces_existing(tmp_path):
    final = tmp_path / "run"
    final.mkdir()
    (final / "stale.txt").write_text("old run")
    with atomic_dir(final) as tmp:
        assert tmp.parent == tmp_path and tmp != final
        assert (final / "stale.txt").exists()  # the old run stays visible while writing
        (tmp / "new.txt").write_text("new run")
    assert _listing(final) == ["new.txt"]
    assert _listing(tmp_path) == ["run"]


def test_atomic_dir_failure_keeps_existing_and_removes_temp(tmp_path):
    final = tmp_path / "run"
    final.mkdir()
    (final / "kept.txt").write_text("old run")
    with pytest.raises(Boom), atomic_dir(final) as tmp:
        (tmp / "partial.parquet").write_bytes(b"PAR1...")
        raise Boom
    assert _listing(final) == ["kept.txt"]
    assert _listing(tmp_path) == ["run"]


def test_atomic_dir_failure_without_existing_leaves_nothing(tmp_path):
    with pytest.raises(Boom), atomic_dir(tmp_path / "nested" / "run") as tmp:
        (tmp / "a.txt").write_text("x")
        raise Boom
    assert _listing(tmp_path / "nested") == []
