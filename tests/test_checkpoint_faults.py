"""No lost work: broken index files, truncated and empty checkpoints, non-finite weights, failed
saves, kills at random moments during saves, signals while reading data."""

import dataclasses
import os
import random
import re
import resource
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from facekp import config as config_lib, models, tasks
from facekp.checkpoints import RunCheckpoints, checkpoints_on_disk, write_config
from facekp.errors import InputError, TrainingStopped
from facekp.checkpoints import load_run
from facekp import train_loop
from facekp.train_loop import train
from facekp.tasks.keypoints import KeypointTask
from tests.conftest import FAST, copy_of, run_script, tiny_config, train_generated, write_youtube68
from tests.test_reliability import TINY, _state, _wait_for, train_command


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE = os.path.join(REPO, "data", "samples", "obamas.jpg")


def fast_config(data, **overrides):
    """tiny_config with the fastest model to trace: these tests are about the loop, not the model."""
    return tiny_config(data, **{**FAST, **overrides})


@pytest.fixture(scope="module")
def trained_once(tmp_path_factory):
    """A 6-step run with checkpoints at steps 2, 4 and 6 (and a best one), trained once."""
    return train_generated(tmp_path_factory.mktemp("trained"), fast_config, steps=6, ckpt_every=2, eval_every=2)


@pytest.fixture
def trained(trained_once, tmp_path):
    """A fresh copy of the trained run, for a test to damage."""
    return copy_of(trained_once, tmp_path / "run")


def _resume(cfg, run, steps, capsys):
    capsys.readouterr()
    train(dataclasses.replace(cfg, steps=steps), run)
    return capsys.readouterr()


@pytest.mark.parametrize(
    "index", ["missing", pytest.param("garbage", marks=pytest.mark.slow), pytest.param("empty", marks=pytest.mark.slow)]
)
def test_a_broken_index_file_still_resumes_from_the_newest_checkpoint(trained, capsys, index):
    cfg, run = trained
    path = os.path.join(run, "ckpt", "checkpoint")
    if index == "missing":
        os.remove(path)
    else:
        with open(path, "w") as f:
            f.write("" if index == "empty" else "model_checkpoint_path: {{{ garbage")
    out = _resume(cfg, run, 8, capsys).out
    assert "from step 6" in out and "from scratch" not in out
    assert [os.path.basename(p) for p in checkpoints_on_disk(os.path.join(run, "ckpt"))] == [
        "ckpt-8",
        "ckpt-6",
        "ckpt-4",
    ]
    assert _state(cfg, run)[0] == 8


@pytest.mark.parametrize("damage", ["truncated data", pytest.param("empty index", marks=pytest.mark.slow)])
def test_an_unreadable_newest_checkpoint_is_skipped_aloud_and_set_aside(trained, capsys, damage):
    cfg, run = trained
    prefix = os.path.join(run, "ckpt", "ckpt-6")
    if damage == "truncated data":
        with open(prefix + ".data-00000-of-00001", "r+b") as f:
            f.truncate(os.path.getsize(prefix + ".data-00000-of-00001") // 2)
    else:
        open(prefix + ".index", "w").close()
    captured = _resume(cfg, run, 6, capsys)
    assert "from step 4" in captured.out
    assert "ckpt-6: unreadable checkpoint skipped (" in captured.err
    assert "unreadable-ckpt-6.index" in os.listdir(os.path.join(run, "ckpt"))
    assert _state(cfg, run)[0] == 6  # trained again from step 4 to 6, saved whole


def test_a_run_whose_checkpoints_are_all_unreadable_never_restarts_from_scratch(trained, capsys):
    cfg, run = trained
    for prefix in checkpoints_on_disk(os.path.join(run, "ckpt")):
        open(prefix + ".index", "w").close()
    before = sorted(os.listdir(os.path.join(run, "ckpt")))
    with pytest.raises(InputError, match=r"ckpt: none of its 3 checkpoints can be read"):
        _resume(cfg, run, 8, capsys)
    assert sorted(os.listdir(os.path.join(run, "ckpt"))) == before  # nothing overwritten


def test_an_unreadable_best_checkpoint_falls_back_to_the_latest_aloud(trained_copy, capsys):
    cfg, run = trained_copy  # the resnet: every variable is in its checkpoints (seednet's dropout seed is not)
    for prefix in checkpoints_on_disk(os.path.join(run, "best")):
        open(prefix + ".data-00000-of-00001", "w").close()
    capsys.readouterr()
    _, model = load_run(run)
    err = capsys.readouterr().err
    assert "unreadable checkpoint skipped" in err and "using the latest checkpoint instead" in err
    latest = models.build(cfg)
    RunCheckpoints(run, latest).checkpoint.restore(os.path.join(run, "ckpt", "ckpt-6")).expect_partial()
    for a, b in zip(model.variables, latest.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_stale_temp_folders_of_killed_saves_are_removed_at_the_next_start(trained, capsys):
    cfg, run = trained
    stale = os.path.join(run, "ckpt", "ckpt-8_temp")
    os.makedirs(stale)
    open(os.path.join(stale, "part-00000-of-00001.index"), "w").close()
    _resume(cfg, run, 7, capsys)
    assert not os.path.exists(stale)


@tf.custom_gradient
def _identity_with_gradient_times(x, factor):
    """x itself; its gradient is multiplied by `factor` (NaN poisons the update)."""
    return tf.identity(x), lambda upstream: (upstream * factor, tf.zeros_like(factor))


def _poison_from(call_number, monkeypatch, what):
    """From the keypoint loss's `call_number`th call on, make its value ("loss") or only its
    gradients ("gradients") NaN."""
    original = KeypointTask.loss_fn
    calls = tf.Variable(0)

    def poisoned(self, cfg):
        loss = original(self, cfg)

        def fn(outputs, batch):
            calls.assign_add(1)
            value, nan = loss(outputs, batch), tf.where(calls >= call_number, float("nan"), 1.0)
            return value * nan if what == "loss" else _identity_with_gradient_times(value, nan)

        return fn

    monkeypatch.setattr(KeypointTask, "loss_fn", poisoned)


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    data = write_youtube68(str(tmp_path / "data"))
    run = str(tmp_path / "run")
    cfg = fast_config(data, steps=10, ckpt_every=2, eval_every=100, log_every=1)
    _poison_from(5, monkeypatch, "loss")
    with pytest.raises(TrainingStopped, match=r"loss became nan at step 5; the last good checkpoint \(step 4\)"):
        train(cfg, run)
    step, _, weights = _state(cfg, run)
    assert step == 4 and all(np.isfinite(w).all() for w in weights.values())


def test_non_finite_weights_are_never_saved(tmp_path, monkeypatch):
    data = write_youtube68(str(tmp_path / "data"))
    cfg = fast_config(data, steps=10, ckpt_every=2, eval_every=100, log_every=1)
    run = str(tmp_path / "run")
    _poison_from(4, monkeypatch, "gradients")  # the update of step 4 makes the weights NaN, its loss is finite
    with pytest.raises(
        TrainingStopped,
        match=r"weights became non-finite .* by step 4, so they were not saved; "
        r"the last good checkpoint \(step 2\) is kept",
    ):
        train(cfg, run)
    step, _, weights = _state(cfg, run)
    assert step == 2 and all(np.isfinite(w).all() for w in weights.values())


def test_a_run_stopped_before_any_checkpoint_says_so_and_leaves_no_run_dir(tmp_path, monkeypatch):
    data = write_youtube68(str(tmp_path / "data"))
    run = str(tmp_path / "run")
    _poison_from(1, monkeypatch, "gradients")
    with pytest.raises(TrainingStopped, match=r"at step 2; no checkpoint was saved"):
        train(fast_config(data, steps=10, ckpt_every=5, eval_every=100), run)
    assert not os.path.exists(run)


def test_running_out_of_memory_names_the_batch_and_a_new_run_leaves_no_run_dir(tmp_path, monkeypatch):
    data = write_youtube68(str(tmp_path / "data"))
    run = str(tmp_path / "run")
    real = train_loop.make_train_step

    def out_of_memory_at_step_2(*args):
        step = real(*args)
        calls = []

        def train_step(batch):
            calls.append(1)
            if len(calls) == 2:
                raise tf.errors.ResourceExhaustedError(
                    None, None, "OOM when allocating tensor with shape[100000,104,104,1]"
                )
            return step(batch)

        return train_step

    monkeypatch.setattr(train_loop, "make_train_step", out_of_memory_at_step_2)
    message = "out of memory at step 2 with --batch-size 8 (OOM when allocating tensor"
    with pytest.raises(TrainingStopped, match=re.escape(message) + r".*; no checkpoint was saved"):
        train(fast_config(data, steps=10, ckpt_every=5, eval_every=100), run)
    assert not os.path.exists(run)


def _limit_file_size(limit):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


@pytest.mark.slow
def test_a_save_that_cannot_be_written_is_one_line_and_leaves_no_partial_files(tmp_path, capsys):
    """Files capped at half a checkpoint: config and logs fit, the second checkpoint cannot."""
    data = write_youtube68(str(tmp_path / "data"))
    run = str(tmp_path / "run")
    args = train_command(run, data, **TINY, batch_size=8, eval_every=100000, ckpt_every=1)
    assert run_script("train", args[2:] + ["--steps", "1"], capsys)[0] == 0  # the first step in this process
    half = os.path.getsize(os.path.join(run, "ckpt", "ckpt-1.data-00000-of-00001")) // 2
    done = subprocess.run(args + ["--steps", "2"], capture_output=True, text=True, preexec_fn=_limit_file_size(half))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"error: {run}/ckpt/ckpt-2: cannot save checkpoint (File too large); the last good checkpoint (step 1) is kept"
    )
    assert sorted(os.listdir(os.path.join(run, "ckpt"))) == ["checkpoint", "ckpt-1.data-00000-of-00001", "ckpt-1.index"]


@pytest.mark.parametrize("stage", ["load_samples", "split"])  # split: where the disk cache is written
def test_sigterm_while_reading_the_data_is_one_line_and_writes_nothing(tmp_path, monkeypatch, capsys, stage):
    data = write_youtube68(str(tmp_path / "data"))
    run = str(tmp_path / "run")
    task = tasks.TASKS["keypoints68"]
    real = task.load_samples if stage == "load_samples" else type(task).split

    def terminated(*args):
        real(*args)
        os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("SIGTERM should have stopped the reading")

    if stage == "load_samples":
        monkeypatch.setitem(tasks.TASKS, "keypoints68", dataclasses.replace(task, load_samples=terminated))
    else:
        monkeypatch.setattr(type(task), "split", terminated)
    with pytest.raises(SystemExit) as stopped:
        train(fast_config(data), run)
    assert stopped.value.code == 130 and not os.path.exists(run)
    assert capsys.readouterr().out.strip() == "interrupted while reading the data; nothing was written"


def test_sigterm_while_the_input_pipeline_is_built_waits_for_step_1_and_the_run_resumes(tmp_path, monkeypatch, capsys):
    data = write_youtube68(str(tmp_path / "data"))
    run = str(tmp_path / "run")
    real = type(tasks.TASKS["keypoints68"]).train_batches

    def terminated(*args):
        monkeypatch.setattr(type(tasks.TASKS["keypoints68"]), "train_batches", real)  # once
        os.kill(os.getpid(), signal.SIGTERM)  # the pipeline's Python code: the signal waits for step 1
        return real(*args)

    monkeypatch.setattr(type(tasks.TASKS["keypoints68"]), "train_batches", terminated)
    with pytest.raises(SystemExit) as stopped:
        train(fast_config(data), run)
    assert stopped.value.code == 130
    assert f"interrupted before step 1; {run} holds no checkpoint" in capsys.readouterr().out
    train(fast_config(data), run)  # the same command again: the run trains
    assert os.listdir(os.path.join(run, "ckpt"))


def test_config_json_values_are_checked_when_a_run_is_loaded(trained):
    _, run = trained
    path = os.path.join(run, "config.json")
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(text.replace('"width": 8', '"width": "abc"'))
    with pytest.raises(InputError, match=r'config.json: "width": must be an integer, got \'abc\''):
        config_lib.load(run)
    with open(path, "w") as f:
        f.write(text.replace('"mirror_offsets": []', '"mirror_offsets": [1.0, 2.0]'))
    with pytest.raises(InputError, match=re.escape(f'{path}: "mirror_offsets": 2 values, expected 136')):
        config_lib.load(run)


@pytest.mark.slow
def test_kill_9_mid_run_mid_save_and_at_random_moments_always_resumes(tmp_path):
    """Saves every step; three kills: once checkpoints are being written, once aimed at a save in
    progress (TF writes a *_temp folder, then renames it), once at a random moment. Each time the
    newest whole checkpoint resumes; then the same command trains on to its --steps."""
    data = write_youtube68(str(tmp_path / "data"))
    run = str(tmp_path / "run")
    args = train_command(
        run, data, **FAST, batch_size=8, eval_every=100000, ckpt_every=1, keep_checkpoints=2, log_every=1
    )
    cfg = fast_config(data, batch_size=8, steps=100000, ckpt_every=1, keep_checkpoints=2, eval_every=100000)
    saving = lambda: any("_temp" in f for f in os.listdir(os.path.join(run, "ckpt")))
    rng, last = random.Random(0), 0
    for kill in range(3):
        proc = subprocess.Popen(
            args + ["--steps", "100000"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        if kill == 0:  # mid-run: once checkpoints are being written
            assert _wait_for(lambda: len(checkpoints_on_disk(os.path.join(run, "ckpt"))) >= 2, timeout=120)
        else:
            assert _wait_for(lambda: _newest_step(run) > last, timeout=120)
            if kill == 1:  # aimed at a save in progress
                _wait_for(lambda: saving() or _newest_step(run) > last + 6, timeout=120)
            else:
                time.sleep(rng.uniform(0.0, 1.0))
        proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate()
        assert last == 0 or f"from step {last}" in out or "unreadable checkpoint skipped" in err, (out, err)
        step, iterations, weights = _state(cfg, run)  # readable whatever the moment of the kill
        assert step >= max(last, 1) and iterations == step and all(np.isfinite(w).all() for w in weights.values())
        last = step
    done = subprocess.run(args + ["--steps", str(last + 3)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert f"from step {last}" in done.stdout
    step, iterations, trained = _state(cfg, run)
    assert step == last + 3 and iterations == step
    assert any(not np.array_equal(weights[k], trained[k]) for k in weights)
    log = pd.read_json(os.path.join(run, "metrics.jsonl"), lines=True)  # no line cut by a kill is left
    assert list(log[log.split == "train"].step) == list(range(1, step + 1))  # each once, none past a checkpoint twice


def _newest_step(run):
    found = checkpoints_on_disk(os.path.join(run, "ckpt"))
    return int(found[0].rsplit("-", 1)[1]) if found else 0


@pytest.mark.slow
def test_a_checkpoint_of_another_network_is_one_line_on_stderr_with_no_tensorflow_warnings(trained, tmp_path):
    cfg, run = trained
    write_config(run, dataclasses.replace(cfg, channels=3))  # its first convolution: 3 input channels, not 1
    done = subprocess.run(
        [sys.executable, os.path.join(REPO, "predict.py"), "--run", run, "--out", str(tmp_path), SAMPLE],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1, done.stderr
    assert "checkpoint does not match this run's model" in done.stderr
    write_config(run, dataclasses.replace(cfg, model="resnet"))  # its input size is no multiple of 32
    with pytest.raises(InputError, match=re.escape(f"{run}/config.json: --input-size: resnet needs a multiple of 32")):
        load_run(run)
