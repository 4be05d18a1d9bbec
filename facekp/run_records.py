"""What a run directory records across resumes, kept true when a run is killed and resumed: the
validation set its best checkpoint was chosen on (validation.json), metrics.jsonl without the
rows a kill left behind, and TensorBoard told where the run starts again."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import numpy as np
import tensorflow as tf

from facekp.config import TrainConfig
from facekp.digest import content_digest
from facekp.errors import InputError
from facekp.fileio import atomic_write_text

VALIDATION_FILE = "validation.json"  # in a run dir: what its best checkpoint was chosen on


def validation_record(samples: Any) -> dict[str, Any]:
    """What a run validates on: its people and images, counted, and a digest of their names,
    people and keypoints (not the path of --data, which may move)."""
    keypoints = getattr(samples, "keypoints", None)  # a recognition task's labels are its people
    labels = None if keypoints is None else np.round(np.nan_to_num(keypoints), 2)
    return {
        "people": len(set(samples.groups)),
        "images": len(samples),
        "digest": content_digest(list(samples.names), list(samples.groups), labels),
    }


def validation_change(run_dir: str, record: dict[str, Any], cfg: TrainConfig, new_validation: bool) -> str:
    """How the validation set `record` differs from the one `run_dir` recorded ("" if it does not,
    or the run recorded none: a new run, or one made before runs recorded it). A change is refused
    unless `new_validation`: best checkpoints measured on other faces cannot be compared."""
    try:
        with open(os.path.join(run_dir, VALIDATION_FILE)) as f:
            recorded = json.load(f)
    except FileNotFoundError:
        return ""
    except (OSError, ValueError) as e:
        raise InputError(f"{os.path.join(run_dir, VALIDATION_FILE)}: unreadable ({e})")
    if recorded == record:
        return ""
    change = f"{_counted(recorded)} -> {_counted(record)}"
    if not new_validation:
        raise InputError(
            f"{run_dir}: validation set changed: {change} (--data {cfg.data} holds other faces than the run "
            "started on); resume on the data it started on, or give --new-validation to choose the best "
            "checkpoint anew on this one"
        )
    return change


def _counted(record: dict[str, Any]) -> str:
    """A validation record's counts in words: `1 person, 4 images`."""
    people, images = record.get("people"), record.get("images")
    return f"{people} {'person' if people == 1 else 'people'}, {images} image{'' if images == 1 else 's'}"


def trim_metrics(path: str, step: int) -> None:
    """Drop from a resumed run's metrics.jsonl what a kill left: lines cut short mid-write, and
    the rows of steps past `step`, the restored checkpoint's (they are trained and logged again);
    each said in one line, the file rewritten atomically."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return
    kept, cut, later = [], [], 0
    for number, line in enumerate(lines, 1):
        try:
            row = json.loads(line)
        except ValueError:
            cut.append(number)
            continue
        if isinstance(row, dict) and isinstance(row.get("step"), int) and row["step"] > step:
            later += 1
        else:
            kept.append(line + "\n")
    if cut:
        print(f"{path}: line{'s' if len(cut) > 1 else ''} {', '.join(map(str, cut))} dropped (cut short, by a kill)")
    if later:
        print(f"{path}: {later} rows past step {step} dropped (those steps are trained again)")
    if cut or later:
        atomic_write_text(path, "".join(kept))


def mark_start(writer: tf.summary.SummaryWriter, step: int) -> None:
    """Tell TensorBoard that the run starts again after `step`: a SessionLog START event at step + 1,
    at which it drops the events of that step and later that an earlier, killed process logged.
    TensorBoard takes a run's first START as its beginning and only later ones as restarts, so two
    are written (a run logged before this wrote none)."""
    start = tf.compat.v1.SessionLog(status=tf.compat.v1.SessionLog.START)
    event = tf.compat.v1.Event(step=step + 1, wall_time=time.time(), session_log=start).SerializeToString()
    for _ in range(2):
        tf.raw_ops.ImportEvent(writer=writer._resource, event=event)  # tf.summary writes no SessionLog
    writer.flush()
