"""One error type for bad input: the CLIs print its message as one line and exit 2."""

from __future__ import annotations

import re


class InputError(Exception):
    """Bad user input (a file, a row, a flag). The message names the file and the problem."""


EXIT_BAD_INPUT = 2


class TrainingStopped(Exception):
    """Training cannot go on (a non-finite loss); the message names the step."""


def first_line(error: BaseException) -> str:
    """An exception's message as one line, without TensorFlow's internals ({{function_node ...}},
    [Op:...] suffixes) that mean nothing to the user."""
    text = getattr(error, "message", None) or str(error)
    text = re.sub(r"\{\{[^}]*\}\}", "", text)
    text = re.sub(r"\s*\[Op:[^\]]*\](?: name: ?\S*)?", "", text)  # eager ops end `[Op:X] name: `
    text = re.sub(r"Error in user-defined function passed to \S+ transformation with iterator: \S+: ", "", text)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__
