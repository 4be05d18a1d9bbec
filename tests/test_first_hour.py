"""A new user's first hour: train.py --help, the summary that ends a run, a finished run re-run."""

import dataclasses
import json
import os
import re
import shutil
import types

import numpy as np
import pytest

import train as train_cli
from facekp import tasks
from facekp.checkpoints import saved_state
from facekp.config import CONFIG_CLASSES, KeypointConfig, RecognitionConfig
from facekp.inference import Predictor
from facekp.recognise import RESULTS_FILE
from facekp.train_loop import finished_step, summary, train
from tests.conftest import FAST_MODEL, flag_words, read_jsonl, run_script, write_youtube68
from tests.test_kaggle15 import write_kaggle

KEYPOINT_GROUP = "keypoint tasks (--task keypoints68, kaggle15)"
RECOGNITION_GROUP = "recognition tasks (--task identity, embedding)"


def _help_sections(capsys, monkeypatch):
    """train.py --help (unwrapped) as {section heading: {flag: its help text}}."""
    monkeypatch.setenv("COLUMNS", "400")
    with pytest.raises(SystemExit):
        train_cli.parse_args(["--help"])
    sections, heading, flag = {}, None, None
    for line in capsys.readouterr().out.splitlines():
        if line and not line[0].isspace() and line.endswith(":"):
            heading = line[:-1]
            sections[heading] = {}
        elif heading and line.startswith("  -"):  # a flag, its help beside it or on the next line
            flag, _, text = line.strip().partition("  ")
            flag = flag.split()[0].rstrip(",")
            sections[heading][flag] = text.strip()
        elif heading and flag and line.strip():
            sections[heading][flag] = (sections[heading][flag] + " " + line.strip()).strip()
    return sections


def test_help_shows_each_default_once_and_never_empty_or_by_class_name(capsys, monkeypatch):
    sections = _help_sections(capsys, monkeypatch)
    helps = {flag: text for flags in sections.values() for flag, text in flags.items()}
    assert len(helps) > 40
    for flag, text in helps.items():
        assert text.count("default:") <= 1, (flag, text)
        assert "(default: )" not in text and "Config" not in text, (flag, text)
    assert helps["--task"].endswith("(default: keypoints68)")
    assert helps["--data"].endswith("(default: $FACEKP_DATA/<the task's folder>)")
    assert helps["--input-size"].endswith("(default: 96 for keypoint tasks, 64 for recognition tasks)")
    assert helps["--deterministic"].endswith("(default: off)")
    assert helps["--init-from"].endswith("best checkpoint")  # no default to show


def test_help_groups_the_flags_by_task(capsys, monkeypatch):
    sections = _help_sections(capsys, monkeypatch)
    assert list(sections)[-3:] == ["common to every task", KEYPOINT_GROUP, RECOGNITION_GROUP]
    assert {"--steps", "--input-size", "--rotation", "--width", "--cache", "--cache-dir"} <= set(
        sections["common to every task"]
    )
    keypoint_flags = {"--loss", "--head", "--margin", "--refine-margin", "--flip-bias", "--groups"}
    assert keypoint_flags | {"--conventions", "--hold-out-extra"} == set(sections[KEYPOINT_GROUP])
    assert {"--dropout", "--face-crop", "--classify-data", "--triplet-margin"} <= set(sections[RECOGNITION_GROUP])
    assert {"--run", "--config"} <= set(sections["options"])


def test_each_task_is_in_its_config_class_family():
    for name, task in tasks.TASKS.items():
        assert name in task.config_class.TASKS, name
    listed = [name for cls in CONFIG_CLASSES.values() for name in cls.TASKS]
    assert sorted(listed) == sorted(tasks.TASKS)
    assert all(re.fullmatch("[a-z]+", cls.FAMILY) for cls in CONFIG_CLASSES.values())


def _files(folder):
    """Every file under `folder` with its size and modification time."""
    return {
        os.path.join(root, name): (
            os.path.getsize(os.path.join(root, name)),
            os.path.getmtime(os.path.join(root, name)),
        )
        for root, _, names in os.walk(folder)
        for name in names
    }


def _no_data_reading(monkeypatch):
    """Make reading the 68-point data an error, as a finished run must not read it."""

    def refuse(cfg):
        raise AssertionError("the data was read")

    monkeypatch.setitem(
        tasks.TASKS, "keypoints68", dataclasses.replace(tasks.TASKS["keypoints68"], load_samples=refuse)
    )


def test_a_run_ends_with_its_summary_and_a_finished_run_rerun_returns_at_once(tmp_path, capsys, monkeypatch):
    data = write_youtube68(str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    command = ["--run", "runs/kp", "--data", data, *FAST_MODEL, *flag_words(steps=2, eval_every=2, batch_size=8)]
    code, out, err = run_script("train", command, capsys)
    assert code == 0, err
    validation, run, best, look = out.strip().splitlines()[-4:]
    nme = read_jsonl("runs/kp/metrics.jsonl")[-1]["nme"]
    assert validation.startswith(f"validation: nme={nme:.4f}, ")
    assert run == "run: runs/kp (step 2)"
    assert best == f"best checkpoint: val nme {nme:.4f} at step 2"
    assert look == "look at it: tensorboard --logdir runs"

    before = _files("runs/kp")
    _no_data_reading(monkeypatch)
    code, again, err = run_script("train", ["--run", "runs/kp"], capsys)
    assert code == 0, err
    assert "runs/kp: already at its last step (2 of --steps 2); a larger --steps continues it" in again
    assert again.strip().splitlines()[-4:] == [validation, run, best, look]
    assert _files("runs/kp") == before  # no event file, checkpoint or log line written


def test_only_a_finished_run_of_the_same_config_is_left_alone(trained_copy):
    cfg, run = trained_copy
    task = tasks.get(cfg.task)
    assert finished_step(task, cfg, run) == 6
    assert finished_step(task, dataclasses.replace(cfg, eval_every=1, data="elsewhere"), run) == 6  # run control
    assert finished_step(task, dataclasses.replace(cfg, steps=4), run) == 6  # past --steps: nothing to do either
    assert finished_step(task, dataclasses.replace(cfg, steps=7), run) is None  # a larger --steps continues
    assert finished_step(task, dataclasses.replace(cfg, width=16), run) is None  # another run: training refuses it
    assert finished_step(task, cfg, os.path.join(run, "nowhere")) is None
    newest = os.path.join(run, "ckpt", "ckpt-6.data-00000-of-00001")
    with open(newest, "r+b") as f:
        f.truncate(os.path.getsize(newest) // 2)
    assert finished_step(task, cfg, run) is None  # training's resume skips it aloud and trains again


def test_a_finished_run_rerun_through_the_api_says_so_and_returns_its_metrics(trained_copy, capsys, monkeypatch):
    cfg, run = trained_copy
    before = _files(run)
    _no_data_reading(monkeypatch)
    capsys.readouterr()
    results = train(cfg, run)
    out = capsys.readouterr().out
    assert results == {k: v for k, v in read_jsonl(os.path.join(run, "metrics.jsonl"))[-1].items() if k in results}
    assert set(results) >= {"nme", "rmse"}
    assert f"{run}: already at its last step (6 of --steps 6)" in out
    assert out.strip().splitlines()[-1] == f"look at it: tensorboard --logdir {os.path.dirname(run)}"
    assert _files(run) == before


def test_the_summary_names_the_best_checkpoint_metric_with_its_sign(trained_copy):
    cfg, run = trained_copy
    step, value = saved_state(os.path.join(run, "best"))
    lines = summary(tasks.get("keypoints68"), run, 6, {}).splitlines()
    assert lines[1] == f"best checkpoint: val nme {value:.4f} at step {step}"
    higher = types.SimpleNamespace(best_metric="macro_f1", higher_is_better=True)  # saved as -metric
    assert summary(higher, run, 6, {}).splitlines()[1] == f"best checkpoint: val macro_f1 {-value:.4f} at step {step}"
    shutil.rmtree(os.path.join(run, "best"))
    assert summary(higher, run, 6, {}).splitlines() == [
        f"run: {run} (step 6)",
        "best checkpoint: none (no validation yet)",
        f"look at it: tensorboard --logdir {os.path.dirname(run)}",
    ]


def test_an_embedding_run_is_finished_once_its_threshold_and_this_classifier_are_saved(tmp_path):
    task, run = tasks.get("embedding"), str(tmp_path)
    cfg = RecognitionConfig(task="embedding")
    assert not task.after_training_done(cfg, run)
    with open(os.path.join(run, RESULTS_FILE), "w") as f:
        json.dump({"threshold": 0.9, "classifier": {"data": "lfw2017"}}, f)
    assert task.after_training_done(cfg, run)
    assert task.after_training_done(dataclasses.replace(cfg, classify_data="lfw2017"), run)
    assert not task.after_training_done(dataclasses.replace(cfg, classify_data="other"), run)  # refitted
    assert tasks.get("identity").after_training_done(RecognitionConfig(), run)


def test_infer_and_submit_names_both_files_the_way_the_user_gave_the_output(tmp_path, capsys, monkeypatch):
    folder = write_kaggle(str(tmp_path / "k"))
    predictor = types.SimpleNamespace(
        cfg=KeypointConfig(task="kaggle15", data=folder),
        predict=lambda images, flip_tta: np.full((len(images), 15, 2), 48.0),
    )
    monkeypatch.setattr(Predictor, "from_run", staticmethod(lambda run: predictor))
    monkeypatch.chdir(tmp_path)
    os.makedirs("out")
    cases = [(["--out", "out/sub.csv"], r"out/sub\.csv", "out/"), ([], r"submission-[\d-]+\.csv", "")]
    for flags, csv, folder_shown in cases:
        code, printed, err = run_script("infer_and_submit", ["--task", "kaggle15", "--run", "r", *flags], capsys)
        assert code == 0, err
        plot = re.escape(folder_shown) + r"plot-[\d-]+\.png"
        assert re.fullmatch(f"wrote {csv} \\(5 rows\\) and {plot}\n", printed), printed
        assert os.path.isfile(printed.split()[1]) and os.path.isfile(printed.split()[-1])
