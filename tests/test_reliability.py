"""Runs that survive: SIGTERM, determinism, --init-from and write failures (kill -9:
tests/test_checkpoint_faults.py; export parity and tf.distribute: tests/test_export_distribute.py)."""

import dataclasses
import errno
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from facekp import export, fileio, models
from facekp.checkpoints import RunCheckpoints, init_from_run, load_run
from facekp.data.images import GRAY_WEIGHTS
from facekp.errors import InputError
from facekp.train_loop import Interrupts, make_optimizer, train
from tests.conftest import FAST, TINY_MODEL, flag_words, read_jsonl, tiny_config, write_youtube68

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = os.path.join(REPO, "train.py")
TINY = dict(input_size=32, width=8)  # a model small enough to train a few steps in a test


def train_command(run, data, **flags):
    """train.py's command line for `run` on `data`, flags given as keyword arguments."""
    return [sys.executable, TRAIN, "--run", run, "--data", data, *flag_words(**flags)]


def _state(cfg, run):
    """(step, optimizer iterations, {variable path: weights}) of a run's latest checkpoint."""
    model = models.build(cfg)
    optimizer = make_optimizer(cfg)
    ckpts = RunCheckpoints(run, model, optimizer)
    assert ckpts.restore()
    return int(ckpts.step.numpy()), int(optimizer.iterations.numpy()), {v.path: v.numpy() for v in model.variables}


def _wait_for(predicate, timeout=120.0):
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return True
        time.sleep(0.005)
    return False


def _checkpoints(run):
    folder = os.path.join(run, "ckpt")
    return sorted(f for f in os.listdir(folder) if f.endswith(".index")) if os.path.isdir(folder) else []


@pytest.mark.slow
def test_sigterm_saves_and_exits_cleanly(tmp_path):
    data = write_youtube68(str(tmp_path / "data"))
    run = str(tmp_path / "run")
    command = train_command(run, data, **FAST, steps=100000, ckpt_every=100000, eval_every=100000, log_every=1)
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics = os.path.join(run, "metrics.jsonl")
    assert _wait_for(lambda: os.path.exists(metrics) and os.path.getsize(metrics) > 0)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted: checkpoint at step" in out, err
    assert "Traceback" not in err
    assert len(_checkpoints(run)) == 1


def test_a_signal_in_the_step_loop_waits_for_the_step_boundary_and_a_second_one_does_not():
    interrupts = Interrupts()
    with pytest.raises(KeyboardInterrupt):  # reading data, saving at the end: at once
        interrupts.handle(signal.SIGTERM, None)
    interrupts.deferred = True
    interrupts.handle(signal.SIGTERM, None)  # inside a step: noted, nothing raised
    assert interrupts.pending
    with pytest.raises(KeyboardInterrupt):  # the next step boundary
        interrupts.check()
    with pytest.raises(KeyboardInterrupt):  # a second signal: at once
        interrupts.handle(signal.SIGINT, None)


def test_a_background_job_that_ignores_ctrl_c_keeps_ignoring_it():
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        installed = Interrupts().install()
        assert list(installed) == [signal.SIGTERM] and signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        signal.signal(signal.SIGTERM, installed[signal.SIGTERM])
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.slow
def test_deterministic_runs_give_identical_losses(tmp_path):
    data = write_youtube68(str(tmp_path / "data"))
    cfg = tiny_config(data, **FAST, steps=5, log_every=1, deterministic=True, rotation=20.0, flip=0.5)
    train(cfg, str(tmp_path / "a"))
    train(cfg, str(tmp_path / "b"))
    losses = [
        [r["loss"] for r in read_jsonl(tmp_path / r / "metrics.jsonl") if r["split"] == "train"] for r in ("a", "b")
    ]
    assert len(losses[0]) == 5 and losses[0] == losses[1]


@pytest.mark.slow
def test_init_from_loads_matching_weights_and_says_what_it_skipped(trained_copy, tmp_path, capsys):
    source_cfg, source = trained_copy
    data = source_cfg.data
    cfg = tiny_config(data, steps=1, head="regression", init_from=source, lr=1e-9, warmup_steps=1)
    capsys.readouterr()
    train(cfg, str(tmp_path / "dst"))
    out = capsys.readouterr().out
    assert "initialised from" in out and "tensors loaded" in out and "keypoints_dense" in out
    _, _, src = _state(source_cfg, source)
    _, _, dst = _state(cfg, str(tmp_path / "dst"))
    np.testing.assert_allclose(dst["stem1_conv/kernel"], src["stem1_conv/kernel"], atol=1e-6)
    assert "heatmaps/kernel" in src and "heatmaps/kernel" not in dst


def test_a_gray_run_starts_an_rgb_run_computing_the_same_keypoints(trained_run):
    cfg, run = trained_run
    _, gray_model = load_run(run)
    rgb_model = models.build(dataclasses.replace(cfg, channels=3))
    count = len(rgb_model.variables)  # every tensor loads, the first convolution's spread over the colours
    assert init_from_run(rgb_model, run) == f"initialised from {run}: {count} of {count} tensors loaded"
    colour = np.random.default_rng(0).uniform(0, 1, (2, 32, 32, 3)).astype(np.float32)
    gray = colour @ GRAY_WEIGHTS[0][:, None]  # (2, 32, 32, 1), as images.decode makes it
    np.testing.assert_allclose(rgb_model(colour, training=False), gray_model(gray, training=False), atol=1e-3)


def test_init_from_a_model_of_another_width_is_refused_before_the_run_dir_is_written(trained_copy, tmp_path):
    source_cfg, source = trained_copy
    data = source_cfg.data
    wider = tiny_config(data, steps=1, width=2 * source_cfg.width, init_from=source)
    with pytest.raises(InputError, match="tensors match it by name and shape"):
        train(wider, str(tmp_path / "dst"))
    assert not os.path.exists(tmp_path / "dst" / "config.json")


def test_failed_write_leaves_no_file(tmp_path, monkeypatch):
    target = tmp_path / "out.csv"
    target.write_text("old\n")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fileio.os, "fsync", full)
    with pytest.raises(OSError):
        fileio.atomic_write_text(str(target), "new\n" * 1000)
    assert target.read_text() == "old\n" and os.listdir(tmp_path) == ["out.csv"]


def test_cli_write_failure_is_one_line_and_leaves_no_run_dir(tmp_path, monkeypatch, capsys):
    from tests.test_train import _cli

    data = write_youtube68(str(tmp_path / "data"))
    run = str(tmp_path / "runs" / "x")
    monkeypatch.setattr(
        fileio.os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space left on device"))
    )
    code, err = _cli(["--run", run, "--data", data, *TINY_MODEL, "--steps", "1"], capsys)
    assert code == 2 and "config.json: No space left on device" in err and len(err.strip().splitlines()) == 1
    assert not os.path.exists(run)


def test_atomic_write_gives_the_usual_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        fileio.atomic_write_text(str(tmp_path / "a.csv"), "x\n")
    finally:
        os.umask(old)
    assert os.stat(tmp_path / "a.csv").st_mode & 0o777 == 0o644


def test_a_folder_replaced_atomically_survives_a_failure_at_any_point(tmp_path, monkeypatch):
    """The earlier folder stays whole when the writing fails, or when swapping the new one in
    fails after the earlier one was moved aside; no temporary folder is left behind."""
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "a.txt").write_text("earlier")

    def failing(_):
        raise OSError("disk full")

    with pytest.raises(OSError):
        export.replace_atomically(str(folder), failing)
    real_replace, calls = os.replace, []

    def second_fails(src, dst):
        calls.append(src)
        if len(calls) == 2:
            raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", second_fails)
    with pytest.raises(KeyboardInterrupt):
        export.replace_atomically(str(folder), lambda tmp: open(os.path.join(tmp, "b.txt"), "w").close())
    monkeypatch.setattr(os, "replace", real_replace)
    assert os.listdir(tmp_path) == ["out"] and os.listdir(folder) == ["a.txt"]
    export.replace_atomically(str(folder), lambda tmp: open(os.path.join(tmp, "b.txt"), "w").close())
    assert os.listdir(tmp_path) == ["out"] and os.listdir(folder) == ["b.txt"]
