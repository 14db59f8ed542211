"""Atomic writers: a file or a run folder under ``results/`` is either complete or absent.

Every writer goes through a temporary name in the *same* directory as its target (so the final
``os.replace`` is a rename on one file system, atomic on POSIX) and removes the temporary on any
error. A reader, or a resumed job that skips outputs already on disk, therefore never meets a
half-written Parquet table, JSON file or figure.

``atomic_dir`` does the same for a whole run folder: the caller fills a temporary sibling
directory, which replaces the final folder only when the ``with`` block ends without an error.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "atomic_dir",
    "atomic_savefig",
    "atomic_to_parquet",
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _file_mode() -> int:
    """Permissions an ordinary ``open(path, "w")`` would give (mkstemp uses 0o600)."""
    return 0o666 & ~_umask()


def atomic_write(path: str | os.PathLike, writer: Callable[[Path], Any]) -> Path:
    """Call ``writer(tmp_path)`` to write a temporary file, then rename it onto ``path``.

    The temporary file sits beside ``path`` and keeps its suffix (some writers choose the format
    from it). If ``writer`` raises, the temporary file is removed and ``path`` is left as it was.
    Parent directories are created. Returns the final path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        writer(tmp)
        os.chmod(tmp, _file_mode())
        with open(tmp, "rb+") as fh:  # flush the data to disk before the rename
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode(encoding))


def atomic_write_json(path: str | os.PathLike, obj: Any, *, default: Callable | None = str) -> Path:
    """Write ``obj`` as JSON (sorted keys, indent 2, trailing newline) atomically.

    Values JSON cannot represent (dates, paths, numpy scalars) go through ``default`` (``str``).
    Serialisation happens before anything touches the disk.
    """
    text = json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False, default=default)
    return atomic_write_text(path, text + "\n")


def atomic_to_parquet(df, path: str | os.PathLike, **kwargs: Any) -> Path:
    """``df.to_parquet(path, **kwargs)`` atomically (``index=False`` unless given)."""
    kwargs.setdefault("index", False)
    return atomic_write(path, lambda tmp: df.to_parquet(tmp, **kwargs))


def atomic_savefig(fig, path: str | os.PathLike, **kwargs: Any) -> Path:
    """``fig.savefig(path, **kwargs)`` atomically; the format follows the suffix of ``path``."""
    path = Path(path)
    if "format" not in kwargs and path.suffix:
        kwargs["format"] = path.suffix.lstrip(".").lower()
    return atomic_write(path, lambda tmp: fig.savefig(tmp, **kwargs))


@contextlib.contextmanager
def atomic_dir(final_dir: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling of ``final_dir``; on success it becomes ``final_dir``.

    On an error inside the ``with`` block the temporary directory is deleted and an existing
    ``final_dir`` is left untouched. On success an existing ``final_dir`` is replaced: it is first
    renamed aside, the new folder is renamed into place, then the old one is deleted (if the
    second rename fails the old folder is put back).
    """
    final = Path(final_dir)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.tmp-"))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    os.chmod(tmp, 0o777 & ~_umask())
    old = None
    try:
        if final.exists() or final.is_symlink():
            old = final.parent / f".{final.name}.old-{uuid.uuid4().hex[:12]}"
            os.replace(final, old)
        os.replace(tmp, final)
    except BaseException:
        if old is not None and not final.exists():
            os.replace(old, final)
            old = None
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if old is not None:
            if old.is_dir() and not old.is_symlink():
                shutil.rmtree(old, ignore_errors=True)
            else:
                old.unlink(missing_ok=True)
