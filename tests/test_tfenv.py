"""Process-level TensorFlow settings: oneDNN on by default (an explicit 0 wins)."""

import os
import platform
import subprocess
import sys

import pytest

CHECK = "import facekp, tensorflow; from tensorflow.python.util import _pywrap_util_port as p; print(p.IsMklEnabled())"


def start_check(**env):
    """A process that prints whether TensorFlow's oneDNN kernels are on, with these variables (None: unset)."""
    return subprocess.Popen(
        [sys.executable, "-c", CHECK],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in {**os.environ, **env}.items() if v is not None},
    )


def onednn_enabled(process):
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    return out.strip() == "True"


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="oneDNN builds are x86 here")
@pytest.mark.slow
def test_onednn_on_by_default_and_off_when_asked():
    by_default, turned_off = start_check(TF_ENABLE_ONEDNN_OPTS=None), start_check(TF_ENABLE_ONEDNN_OPTS="0")  # together
    assert onednn_enabled(by_default)
    assert not onednn_enabled(turned_off)
