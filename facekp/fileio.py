"""Atomic file writes (a temporary name in the same folder, then a rename), one writer at a time
(writer_lock), and text reading."""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
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
        fd, tmp = tempfile.mkstemp(prefix=temporary_prefix(target), dir=os.path.dirname(target))
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


def temporary_prefix(path: str | os.PathLike) -> str:
    """The name prefix of the temporary files and folders that become `path` (`.tmp-NAME-`), so
    that the next writer of `path` knows them (remove_stale_temporaries)."""
    return f".tmp-{os.path.basename(os.path.normpath(path))}-"


@contextlib.contextmanager
def writer_lock(target: str | os.PathLike) -> Iterator[None]:
    """Be the one process that writes `target` (a run dir, an export, a folder or file replaced
    whole) for the duration: an flock on `.NAME.lock` beside it, holding this process's pid. The
    system releases it when the process ends however it ends (kill -9 too), so a lock never
    outlives its holder; another writer is refused with one line naming the holder's pid. Once
    held, the temporaries that a killed writer of `target` left are removed."""
    real = os.path.realpath(target)
    lock = os.path.join(os.path.dirname(real), f".{os.path.basename(real)}.lock")
    os.makedirs(os.path.dirname(lock), exist_ok=True)
    fd = _take_lock(lock, target)
    try:
        remove_stale_temporaries(real)
        yield
    finally:
        with contextlib.suppress(OSError):
            os.remove(lock)  # while held: whoever opened it meanwhile sees it gone and starts again
        os.close(fd)


def _take_lock(lock: str, target: str | os.PathLike) -> int:
    """The open, flocked file `lock` with this pid in it; InputError naming the holder if another
    process holds it."""
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 20).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise InputError(
                f"{target}: another process (pid {holder}) is writing it; wait for it to end, or stop it"
            ) from None
        with contextlib.suppress(FileNotFoundError):
            if os.stat(lock).st_ino == os.fstat(fd).st_ino:  # not removed by its last holder as we opened it
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
                return fd
        os.close(fd)


def remove_stale_temporaries(path: str) -> None:
    """Remove the temporary files and folders of `path` (temporary_prefix) that a killed writer
    left beside it; a folder a killed swap had moved aside (`-old`, `path` missing) is put back.
    Only for the holder of `path`'s writer_lock: no live process is writing them."""
    parent = os.path.dirname(path)
    name = re.compile(re.escape(temporary_prefix(path)) + r"[a-z0-9_]{8}(-old)?")
    for entry in sorted(os.listdir(parent), key=lambda e: not e.endswith("-old")):  # -old first
        stale = os.path.join(parent, entry)
        if not name.fullmatch(entry):
            continue
        if entry.endswith("-old") and not os.path.lexists(path):
            os.replace(stale, path)
            print(f"warning: {path}: put back from {entry}, where a killed writer had moved it", file=sys.stderr)
        elif os.path.isdir(stale) and not os.path.islink(stale):
            shutil.rmtree(stale, ignore_errors=True)
        else:
            os.remove(stale)


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
