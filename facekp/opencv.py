"""OpenCV as facekp imports it: with its own log lines muted (e.g. `imread_('x.jpg'): can't read
header`), so that a bad file is reported once, by facekp, in one line; and `imread` for any file."""

import os

import cv2
import numpy as np

from facekp.errors import InputError
from facekp.fileio import printable

cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)


def file_problem(path: str) -> str | None:
    """Why `path` cannot be read as a file ('no such file'; 'not a regular file': reading a FIFO or
    a device would block), or None."""
    if os.path.isfile(path):
        return None
    return "not a regular file" if os.path.exists(path) else "no such file"


def utf8_name(path: str) -> bool:
    """Whether OpenCV can take the file name (it crashes on one that is not UTF-8, whose undecodable
    bytes printable() escapes)."""
    return printable(path) == path


def imread(path: str, flags: int) -> np.ndarray | None:
    """cv2.imread for any file name (one that is not UTF-8 is decoded from its bytes in memory);
    None if OpenCV cannot decode it; an InputError naming a file that is missing or not a file."""
    problem = file_problem(path)
    if problem:
        raise InputError(f"{path}: {problem}")
    return cv2.imread(path, flags) if utf8_name(path) else cv2.imdecode(np.fromfile(path, np.uint8), flags)
