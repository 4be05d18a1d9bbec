"""Process-level TensorFlow settings: oneDNN on by default (an explicit 0 wins)."""

import os
import platform
import subprocess
import sys

import pytest

CHECK = "import facekp, tensorflow; from tensorflow.python.util import _pywrap_util_port as p; print(p.IsMklEnabled())"


def onednn_enabled(**env):
    done = subprocess.run(
        [sys.executable, "-c", CHECK],
        capture_output=True,
        text=True,
        env={k: v for k, v in {**os.environ, **env}.items() if v is not None},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip() == "True"


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="oneDNN builds are x86 here")
@pytest.mark.slow
def test_onednn_on_by_default_and_off_when_asked():
    assert onednn_enabled(TF_ENABLE_ONEDNN_OPTS=None)
    assert not onednn_enabled(TF_ENABLE_ONEDNN_OPTS="0")
