"""Import TensorFlow without its start-up log lines (CUDA probing on CPU machines, absl notices),
so that a command's stderr holds only what facekp says."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator

# fd 2 is one per process: whoever points it elsewhere for a while (muted_stderr,
# photos.decoder_messages) holds this, or two threads doing so at once would each restore the
# other's redirection and leave stderr going to a closed or deleted file.
STDERR_REDIRECT = threading.RLock()


@contextlib.contextmanager
def muted_stderr() -> Iterator[None]:
    """Silence the process's stderr (fd 2, C++ logging included) for the duration."""
    with STDERR_REDIRECT:
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
    """Import TF and initialise its devices with stderr muted. A process of a multi-worker cluster
    (TF_CONFIG set) runs no op here: its strategy must be made before any (TensorFlow configures
    collective ops only at start-up)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with muted_stderr():
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")  # e.g. unrestored-values warnings after a checkpoint we refused
        tf.config.list_physical_devices()
        if "TF_CONFIG" not in os.environ:
            tf.constant(0.0) + 1.0  # first op: device set-up messages happen here
