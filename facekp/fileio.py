"""Atomic file writes (a temporary name in the same folder, then a rename) and text reading."""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from typing import Any

from facekp.errors import InputError

# The image files facekp reads from folders (what OpenCV decodes): predict.py, galleries, LFW folders.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".pgm", ".ppm", ".tif", ".tiff")


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def public_mode(path: str | os.PathLike, directory: bool = False) -> None:
    """Give a temporary file or folder (created 0600/0700) the usual permissions before renaming."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` so that readers see either the old file or the whole new one.

    Any OSError names `path`, never the temporary file. A link is written through (the file it
    names is replaced); a folder, device or pipe at `path` is refused, never replaced."""
    target = os.path.realpath(path)
    if os.path.exists(target) and not os.path.isfile(target):
        raise InputError(f"{path}: exists and is not a regular file (a folder, device or pipe): write to another name")
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=os.path.dirname(target))
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        public_mode(tmp)
        os.replace(tmp, target)
    except BaseException as e:
        if tmp:
            with contextlib.suppress(OSError):
                os.remove(tmp)
        if isinstance(e, OSError):
            raise OSError(e.errno, e.strerror or str(e), path) from e
        raise


def printable(text: str) -> str:
    """`text` with the undecodable bytes of a file name that is not UTF-8 (held by Python as lone
    surrogates, which no writer or font accepts) as the escapes stderr shows: caf\\udce9.jpg."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, printable(text).encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def open_text(source: str | os.PathLike | bytes) -> io.TextIOWrapper:
    """A text stream over a CSV or other text file (a path, or its bytes): UTF-8 (a BOM is dropped),
    else Latin-1, which reads any byte, so names with accented letters read in either encoding."""
    if not isinstance(source, bytes):
        with open(source, "rb") as f:
            source = f.read()
    try:
        source.decode("utf-8")
        encoding = "utf-8-sig"
    except UnicodeDecodeError:
        encoding = "latin-1"
    return io.TextIOWrapper(io.BytesIO(source), encoding=encoding, newline="")
