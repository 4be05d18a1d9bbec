"""What a resume finds of a killed run: a metrics.jsonl line cut mid-write, rows and TensorBoard
events of steps past the newest checkpoint (all trained again), and data that no longer gives
the run's validation set."""

import json
import os
import shutil

import pandas as pd
from tensorboard.backend.event_processing.plugin_event_accumulator import EventAccumulator

from facekp.checkpoints import checkpoints_on_disk
from facekp.run_records import VALIDATION_FILE
from tests.conftest import FAST_MODEL, read_jsonl, run_script, write_youtube68


def train_args(run, data, steps, *more):
    return ["--run", run, "--data", data, *FAST_MODEL, "--steps", str(steps), "--log-every", "1", *more]


def start_run(tmp_path, capsys, steps=4):
    """A run trained to `steps` with checkpoints every 2 steps and a validation every 2."""
    data = write_youtube68(str(tmp_path / "data"))
    run = str(tmp_path / "run")
    more = ["--ckpt-every", "2", "--eval-every", "2"]
    code, _, err = run_script("train", train_args(run, data, steps, *more), capsys)
    assert code == 0, err
    return run, data


def logged_steps(run, split="train"):
    return [row["step"] for row in read_jsonl(os.path.join(run, "metrics.jsonl")) if row["split"] == split]


def tensorboard_steps(run, tag="train/loss"):
    """The steps TensorBoard shows for `tag`, as its event reader keeps them (it drops what a restart
    overwrites)."""
    events = EventAccumulator(os.path.join(run, "train"), size_guidance={"tensors": 0})
    events.Reload()
    return [event.step for event in events.Tensors(tag)]


def test_a_line_cut_by_a_kill_is_dropped_on_resume_aloud(tmp_path, capsys):
    run, data = start_run(tmp_path, capsys)
    with open(os.path.join(run, "metrics.jsonl"), "a") as f:
        f.write('{"step": 5, "split": "tr')  # a kill mid-write: no end of line
    code, out, err = run_script("train", train_args(run, data, 6), capsys)
    assert code == 0, err
    assert f"{run}/metrics.jsonl: line 7 dropped (cut short, by a kill)" in out
    table = pd.read_json(os.path.join(run, "metrics.jsonl"), lines=True)  # the whole file parses
    assert list(table[table.split == "train"].step) == [1, 2, 3, 4, 5, 6]


def test_rows_and_tensorboard_events_past_the_restored_step_are_logged_once(tmp_path, capsys):
    run, data = start_run(tmp_path, capsys)
    for path in os.listdir(os.path.join(run, "ckpt")):  # as if killed after logging step 4, before saving it
        if path.startswith("ckpt-4."):
            os.remove(os.path.join(run, "ckpt", path))
    assert checkpoints_on_disk(os.path.join(run, "ckpt"))[0].endswith("ckpt-2")
    assert tensorboard_steps(run) == [1, 2, 3, 4]
    code, out, err = run_script("train", train_args(run, data, 6), capsys)
    assert code == 0 and f"resuming {run} from step 2" in out, err
    assert f"{run}/metrics.jsonl: 3 rows past step 2 dropped (those steps are trained again)" in out
    assert logged_steps(run) == [1, 2, 3, 4, 5, 6] and logged_steps(run, "val") == [2, 4, 6]
    assert tensorboard_steps(run) == [1, 2, 3, 4, 5, 6]
    run_script("train", train_args(run, data, 8), capsys)  # a resume that drops nothing drops nothing
    assert logged_steps(run) == list(range(1, 9)) and tensorboard_steps(run) == list(range(1, 9))


def remove_rows(data, count, to):
    """A copy of the data folder `data` at `to` without the CSV's last `count` rows."""
    shutil.copytree(data, to)
    csv = os.path.join(to, "training_frames_keypoints.csv")
    with open(csv) as f:
        lines = f.read().splitlines(keepends=True)
    with open(csv, "w") as f:
        f.writelines(lines[:-count])
    return str(to)


def test_a_resume_on_data_that_gives_another_validation_set_is_refused_or_starts_a_new_best(tmp_path, capsys):
    run, data = start_run(tmp_path, capsys, steps=2)
    moved = str(tmp_path / "moved")
    shutil.copytree(data, moved)  # --data may move
    code, out, err = run_script("train", train_args(run, moved, 3), capsys)
    assert code == 0 and f"resuming {run} from step 2" in out, err
    fewer = remove_rows(data, 10, tmp_path / "fewer")
    code, out, err = run_script("train", train_args(run, fewer, 4), capsys)
    assert code == 2 and err == (
        f"error: {run}: validation set changed: 1 person, 4 images -> 1 person, 2 images (--data {fewer} holds "
        "other faces than the run started on); resume on the data it started on, or give --new-validation to "
        "choose the best checkpoint anew on this one\n"
    )
    assert logged_steps(run) == [1, 2, 3]
    code, out, err = run_script("train", train_args(run, fewer, 4, "--new-validation"), capsys)
    assert code == 0, err
    assert "validation set changed: 1 person, 4 images -> 1 person, 2 images" in out
    assert f"--new-validation: the best checkpoint is chosen anew; the earlier one is kept in {run}/best-" in out
    assert "best checkpoint: val nme" in out and "at step 4" in out
    os.remove(os.path.join(run, VALIDATION_FILE))  # a run made before validation sets were recorded
    code, out, err = run_script("train", train_args(run, data, 5), capsys)
    assert code == 0, err
    with open(os.path.join(run, VALIDATION_FILE)) as f:
        assert json.load(f)["images"] == 4  # recorded now, and checked from here on
    code, out, err = run_script("train", train_args(run, fewer, 6), capsys)
    assert code == 2 and "validation set changed" in err
