"""Import TensorFlow without its start-up log lines (CUDA probing on CPU machines, absl notices),
so that a command's stderr holds only what facekp says."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator


@contextlib.contextmanager
def muted_stderr() -> Iterator[None]:
    """Silence the process's stderr (fd 2, C++ logging included) for the duration."""
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def quiet_tensorflow() -> None:
    """Import TF and initialise its devices with stderr muted."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with muted_stderr():
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")  # e.g. unrestored-values warnings after a checkpoint we refused
        tf.config.list_physical_devices()
        tf.constant(0.0) + 1.0  # first op: device set-up messages happen here
