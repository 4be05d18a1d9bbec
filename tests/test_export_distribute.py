"""Export parity (SavedModel, TFLite vs the checkpoint) and MirroredStrategy on 2 logical CPUs."""

import dataclasses
import json
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from facekp import export, models, tflite
from facekp.checkpoints import load_run
from facekp.commands.export import main as export_main
from facekp.errors import InputError
from facekp.data import augment
from facekp.inference import Predictor
from tests.conftest import write_youtube68

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_savedmodel_and_tflite_match_the_checkpoint(trained_run, tmp_path):
    _, run = trained_run
    predictor = Predictor.from_run(run)
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (2, 50, 40, 1)).astype(np.float32)  # not square: centred square crop
    # the checkpoint's answer, by hand: centred square crop of side 50, predict, map back
    A, t = augment.crop_affine(np.array([[19.5, 24.5]] * 2), np.array([50.0, 50.0]), 32)
    crops = augment.warp_images(images, A, t, 32).numpy() / 255.0
    expected = augment.points_to_source(tf.constant(predictor.predict(crops)), A, t).numpy()

    folder = export.export_savedmodel(predictor, str(tmp_path / "sm"))
    loaded = tf.saved_model.load(folder)
    got = loaded.signatures["serving_default"](images=tf.constant(images))["keypoints"].numpy()
    assert got.shape == (2, 68, 2)
    np.testing.assert_allclose(got, expected, atol=0.01)

    path = export.export_tflite(predictor, str(tmp_path / "model.tflite"))
    with open(path, "rb") as f:
        interpreter = tflite.interpreter(f.read())
    square = np.ascontiguousarray(images[:1, :32, :32])
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], square)
    interpreter.invoke()
    lite = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(lite, predictor.predict(square / 255.0), atol=0.01)


def test_average_exports_the_mean_of_the_runs_weights_with_the_first_runs_config(trained_run, tmp_path):
    cfg, run = trained_run
    _, model = load_run(run)
    shifted = [w + 1.0 for w in model.get_weights()]
    model.set_weights(shifted)
    calibrated = dataclasses.replace(cfg, mirror_offsets=(0.5,) * 136, mirror_calibrated_for="weights of the copy")
    other = export.export_slim(model, str(tmp_path / "shifted"), run, calibrated)

    export_main(["--run", other, "--average", run, "--format", "slim", "--out", str(tmp_path / "soup")])
    soup_cfg, soup = load_run(str(tmp_path / "soup"))
    for got, high in zip(soup.get_weights(), shifted):
        np.testing.assert_allclose(got, high - 0.5, atol=1e-6)  # the mean of w + 1 and w
    assert soup_cfg.averaged_runs == (other, run)
    assert soup_cfg.mirror_offsets == () and soup_cfg.mirror_calibrated_for == ""  # measured for other weights
    assert dataclasses.replace(soup_cfg, averaged_runs=(), mirror_offsets=(), mirror_calibrated_for="") == cfg
    assert Predictor.from_run(str(tmp_path / "soup")).predict(np.zeros((1, 32, 32, 1))).shape == (1, 68, 2)
    saved = json.loads((tmp_path / "soup" / "config.json").read_text())
    (tmp_path / "soup" / "config.json").write_text(json.dumps({**saved, "averaged_runs": [1, None]}))
    with pytest.raises(InputError, match='config.json: "averaged_runs": must be a list of text'):
        load_run(str(tmp_path / "soup"))


def test_average_refuses_a_different_network_or_validation_split(trained_run, tmp_path):
    cfg, run = trained_run
    wider = dataclasses.replace(cfg, width=16)
    folder = export.export_slim(models.build(wider), str(tmp_path / "wider"), run, wider)
    with pytest.raises(InputError, match=re.escape(f"{folder}: not the same network as {run}")):
        export_main(["--run", run, "--average", folder, "--format", "slim", "--out", str(tmp_path / "soup")])
    split = dataclasses.replace(cfg, split_seed=1, margin=1.5)  # it trained on some of run's validation people
    _, model = load_run(run)
    other = export.export_slim(model, str(tmp_path / "split"), run, split)
    with pytest.raises(InputError, match=re.escape(f"{other}: split_seed, margin differ from {run}'s")):
        export_main(["--run", run, "--average", other, "--format", "slim", "--out", str(tmp_path / "soup")])
    assert not os.path.exists(tmp_path / "soup")


def test_an_export_replaces_only_an_earlier_export_of_its_kind(trained_copy, tmp_path):
    _, run = trained_copy
    kept = sorted(os.listdir(run))
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "notes.txt").write_text("mine")
    (tmp_path / "afile").write_text("mine")
    refusals = [
        ("slim", run, f"{run}: holds the run {run}, which an export never replaces"),
        ("slim", os.path.dirname(run), f"{os.path.dirname(run)}: holds the run {run}"),
        ("savedmodel", os.path.join(run, "ckpt"), "ckpt: exists and is not an earlier savedmodel export (it holds "),
        (
            "savedmodel",
            str(tmp_path / "notes"),
            "notes: exists and is not an earlier savedmodel export (it holds notes.txt)",
        ),
        ("slim", str(tmp_path / "afile"), "afile: exists and is not a folder"),
        ("tflite", str(tmp_path / "notes"), "notes: a folder; --out names the .tflite file to write"),
    ]
    for kind, out, message in refusals:
        with pytest.raises(InputError, match=re.escape(message)):
            export_main(["--run", run, "--format", kind, "--out", out])
    assert sorted(os.listdir(run)) == kept and os.listdir(os.path.join(run, "ckpt"))
    assert (tmp_path / "notes" / "notes.txt").read_text() == "mine" and (tmp_path / "afile").read_text() == "mine"
    for _ in range(2):  # a new folder, then the earlier export replaced, its README kept
        export_main(["--run", run, "--format", "slim", "--out", str(tmp_path / "slim")])
        (tmp_path / "slim" / "README.md").write_text("the model's own")
    assert (tmp_path / "slim" / "README.md").read_text() == "the model's own"
    assert sorted(os.listdir(tmp_path / "slim")) == ["README.md", "best", "config.json"]
    os.symlink(tmp_path / "slim", tmp_path / "link")  # an --out that links to an earlier export: written through
    before = os.stat(tmp_path / "slim").st_ino
    export_main(["--run", run, "--format", "slim", "--out", str(tmp_path / "link")])
    assert os.path.islink(tmp_path / "link") and os.stat(tmp_path / "slim").st_ino != before  # a new folder there
    assert (tmp_path / "slim" / "README.md").read_text() == "the model's own"
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".tmp-")]


MIRRORED_SCRIPT = textwrap.dedent("""
    import dataclasses, json, os, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    sys.path.insert(0, {repo!r})
    from facekp.train_loop import train
    from tests.conftest import tiny_config
    base = tiny_config({data!r}, steps=3, log_every=1, grad_clip=0.0, deterministic=True)
    for name, strategy in (("one", "default"), ("two", "mirrored")):
        train(dataclasses.replace(base, strategy=strategy), os.path.join({out!r}, name))
""")


@pytest.mark.slow
def test_mirrored_strategy_on_two_logical_cpus_matches_one_device(tmp_path):
    data = write_youtube68(str(tmp_path / "data"))
    script = MIRRORED_SCRIPT.format(repo=REPO, data=data, out=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "MirroredStrategy over 2 replicas" in done.stdout
    losses = {}
    for name in ("one", "two"):
        with open(tmp_path / name / "metrics.jsonl") as f:
            losses[name] = [json.loads(line)["loss"] for line in f if '"train"' in line]
    assert len(losses["one"]) == 3
    np.testing.assert_allclose(losses["two"], losses["one"], rtol=1e-3)
