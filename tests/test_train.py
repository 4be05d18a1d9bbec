"""The one training loop: it learns, checkpoints, resumes exactly, and the CLI fails cleanly."""

import contextlib
import dataclasses
import io
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import train as train_cli
from facekp import config as config_lib, models
from facekp.checkpoints import RunCheckpoints
from facekp.train_loop import train
from tests.conftest import FAST_MODEL, read_jsonl, tiny_config, write_youtube68

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_tiny_model_learns(tmp_path):
    data = write_youtube68(str(tmp_path / "data"), people=12, per_person=5)
    cfg = tiny_config(
        data, steps=150, eval_every=150, ckpt_every=150, log_every=20, lr=3e-3, warmup_steps=20, loss="l1"
    )
    results = train(cfg, str(tmp_path / "run"))
    log = [r for r in read_jsonl(tmp_path / "run" / "metrics.jsonl") if r["split"] == "train"]
    assert log[-1]["loss"] < 0.35 * log[0]["loss"]
    assert results["nme"] < 0.2  # a blind guess of the mean shape scores about 0.3 here


@pytest.fixture(scope="module")
def split_and_straight(trained_run, tmp_path_factory):
    """The session's tiny augmented run (6 steps straight) and the same run trained in two parts
    (3 steps, then resumed to 6), with what the split run held after its first part."""
    cfg, straight = trained_run
    first = dataclasses.replace(cfg, steps=3)
    split = str(tmp_path_factory.mktemp("resume") / "split")
    train(first, split)
    after_first = {
        "config": config_lib.load(split),
        "listing": set(os.listdir(split)),
        "weights": {v.path: v.numpy() for v in _restored_model(first, split).variables},
    }
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        train(cfg, split)
    after_first["resume_output"] = printed.getvalue()
    return first, split, straight, after_first


@pytest.mark.slow
def test_run_dir_is_self_describing_and_resumes_at_the_saved_step(split_and_straight):
    cfg, run, _, after_first = split_and_straight
    assert after_first["config"] == cfg
    assert {"ckpt", "best", "train", "val", "metrics.jsonl", "config.json"} <= after_first["listing"]
    assert "from step 3" in after_first["resume_output"]
    steps = [r["step"] for r in read_jsonl(os.path.join(run, "metrics.jsonl")) if r["split"] == "train"]
    assert steps == [3, 6]
    # step 3's checkpoint survives the resumed run unchanged (keep_checkpoints=3)
    restored = _restored_model(cfg, run, checkpoint=os.path.join(run, "ckpt", "ckpt-3"))
    for v in restored.variables:
        np.testing.assert_array_equal(v.numpy(), after_first["weights"][v.path])


@pytest.mark.slow
def test_resume_equals_uninterrupted_run(split_and_straight):
    """Same batches, same augmentation, same optimizer state: the weights agree."""
    cfg, split, straight, _ = split_and_straight
    a = _restored_model(cfg, straight)
    b = _restored_model(cfg, split)
    for va, vb in zip(a.variables, b.variables):
        np.testing.assert_allclose(va.numpy(), vb.numpy(), rtol=1e-5, atol=1e-6)


def test_dataset_source_trains_through_the_same_loop(tmp_path):
    data = write_youtube68(str(tmp_path / "data"))
    results = train(
        tiny_config(data, source="dataset", model="seednet", input_size=104, steps=3), str(tmp_path / "run")
    )
    assert np.isfinite(results["nme"])


def _restored_model(cfg, run, checkpoint=None):
    model = models.build(cfg)
    ckpts = RunCheckpoints(run, model)
    if checkpoint:
        ckpts.checkpoint.restore(checkpoint).expect_partial()
    else:
        assert ckpts.restore()
    return model


def _cli(args, capsys):
    old = sys.argv
    sys.argv = ["train.py"] + args
    try:
        with pytest.raises(SystemExit) as exit_info:
            train_cli.run_main(train_cli.main)
    finally:
        sys.argv = old
    return exit_info.value.code, capsys.readouterr().err


def test_cli_bad_inputs_exit_2_with_one_line_and_no_run_dir(tmp_path, capsys):
    data = write_youtube68(str(tmp_path / "data"))
    run = str(tmp_path / "runs" / "x")
    cases = [
        (["--data", str(tmp_path / "missing")], "missing: data folder not found"),
        (["--data", data, "--task", "nope"], "--task: invalid choice: 'nope'"),
        (["--data", data, "--batch-size", "0"], "--batch-size: must be a whole number from 1 to 2**31 - 1, got 0"),
        (["--data", data, "--steps", "-5"], "--steps: must be a whole number from 1 to 2**31 - 1, got -5"),
    ]
    for args, message in cases:
        code, err = _cli(["--run", run] + args, capsys)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
        assert not os.path.exists(run)
    os.remove(os.path.join(data, "training", "Person_03_01.jpg"))
    code, err = _cli(["--run", run, "--data", data, "--input-size", "32", "--steps", "1"], capsys)
    assert code == 2 and "Person_03_01.jpg: image named on line" in err and not os.path.exists(run)


def test_cli_unknown_model_and_changed_config_on_resume(trained_copy, tmp_path, capsys):
    cfg, trained = trained_copy
    data = cfg.data
    run = str(tmp_path / "runs" / "x")
    code, err = _cli(["--run", run, "--data", data, "--model", "nope", "--input-size", "32"], capsys)
    assert code == 2 and "--model: invalid choice: 'nope'" in err and not os.path.exists(run)
    run = trained  # a tiny run (width 8, input size 32)
    code, err = _cli(["--run", run, "--width", "16", "--input-size", "48"], capsys)
    assert code == 2 and "--width (8 -> 16)" in err and "--input-size (32 -> 48)" in err
    os.remove(os.path.join(run, "config.json"))
    code, err = _cli(["--run", run, "--data", data], capsys)
    assert code == 2 and "holds no config.json" in err


def _foreign_log_lines(stderr):
    """TensorFlow's own log lines (e.g. grappler's "remapper failed" on a reversed shape slice)."""
    return [line for line in stderr.splitlines() if line[:5] in ("E0000", "W0000", "I0000")]


@pytest.mark.slow
def test_train_script_end_to_end_and_resume_printing_no_tensorflow_log_lines(tmp_path):
    data = write_youtube68(str(tmp_path / "data"))
    run = str(tmp_path / "run")
    common = [sys.executable, os.path.join(REPO, "train.py"), "--run", run]
    first = subprocess.run(
        common + ["--data", data, *FAST_MODEL, "--steps", "2", "--eval-every", "2", "--batch-size", "8"],
        capture_output=True,
        text=True,
    )
    assert first.returncode == 0, first.stderr
    assert not _foreign_log_lines(first.stderr)
    again = subprocess.run(common + ["--steps", "4"], capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert "resuming" in again.stdout and "from step 2" in again.stdout
    assert os.path.exists(os.path.join(run, "ckpt", "ckpt-4.index"))
    assert not _foreign_log_lines(again.stderr)


def test_clear_ckpts_asks_deletes_and_refuses_outside_runs(tmp_path):
    repo = tmp_path / "repo"
    os.makedirs(repo / "runs" / "a")
    os.makedirs(repo / "runs" / "b")
    os.makedirs(repo / "keep")
    shutil.copy(os.path.join(REPO, "clear_ckpts.sh"), repo)
    script = str(repo / "clear_ckpts.sh")
    no = subprocess.run(["bash", script], input="n\n", capture_output=True, text=True, cwd=repo)
    assert no.returncode == 1 and os.path.isdir(repo / "runs" / "a")
    outside = subprocess.run(["bash", script, "-y", str(repo / "keep")], capture_output=True, text=True, cwd=repo)
    assert outside.returncode == 2 and "refusing" in outside.stderr and os.path.isdir(repo / "keep")
    sneaky = subprocess.run(["bash", script, "-y", str(repo / "runs" / "..")], capture_output=True, text=True, cwd=repo)
    assert sneaky.returncode == 2 and os.path.isdir(repo / "runs" / "a")
    one = subprocess.run(["bash", script, "-y", str(repo / "runs" / "a")], capture_output=True, text=True, cwd=repo)
    assert one.returncode == 0 and not os.path.exists(repo / "runs" / "a") and os.path.isdir(repo / "runs" / "b")
    yes = subprocess.run(["bash", script], input="y\n", capture_output=True, text=True, cwd=repo)
    assert yes.returncode == 0 and os.listdir(repo / "runs") == []
