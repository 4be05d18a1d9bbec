"""Embedding ensembles (ensemble.py): members side by side as one run that loads, embeds, exports
and verifies like any embedding run; members that cannot stand together are refused."""

import dataclasses
import json
import math
import os

import keras
import numpy as np
import pytest

from facekp import models, tasks
from facekp.checkpoints import RunCheckpoints, load_run, write_config
from facekp.config import RecognitionConfig, from_json, load
from facekp.ensemble import MEMBERS_FILE, make_ensemble
from facekp.errors import InputError
from facekp.export import export_slim
from facekp.recognise import Recogniser, load_results
from tests.conftest import run_script
from tests.test_recognition import write_lfw2017, write_people

PEOPLE = [f"P{i}_X" for i in range(6)]


def member_run(folder, cfg, seed):
    """A run directory of an untrained embedding network (its own random weights)."""
    keras.utils.set_random_seed(seed)
    write_config(folder, cfg)
    RunCheckpoints(folder, models.build(cfg), keras.optimizers.AdamW()).save_best(5, -0.5)
    return folder


@pytest.fixture
def members(tmp_path):
    data = write_people(str(tmp_path / "people"), PEOPLE, per_person=3, size=32)
    base = RecognitionConfig(
        task="embedding", data=data, input_size=32, width=8, embedding_dim=8, face_crop="full", val_fraction=0.5
    )
    return [
        member_run(
            str(tmp_path / "flat"),
            dataclasses.replace(base, embedding_head="flatten", margin_classes=3, margin_people="e266b0a046ab6dcc"),
            1,
        ),
        member_run(str(tmp_path / "pool"), dataclasses.replace(base, embedding_dim=4), 2),
    ]


def test_an_ensemble_embeds_as_its_members_side_by_side_and_exports(members, tmp_path):
    out, slim = str(tmp_path / "ens"), str(tmp_path / "slim")
    with open(os.path.join(members[1], "trained_people.txt"), "w") as f:  # as that member trained
        f.write("someone_else\n")
    summary = make_ensemble(members, out, classify_data=write_lfw2017(str(tmp_path / "lfw2017")))
    assert 0 <= summary["threshold"] <= 2 and load_results(out)["threshold"] == summary["threshold"]
    assert summary["classifier"]["faces"] == 60 and os.path.isfile(os.path.join(out, "classifier.pkl"))
    assert json.load(open(os.path.join(out, MEMBERS_FILE))) == {"members": members}
    with open(os.path.join(out, "trained_people.txt")) as f:  # everyone any member trained on
        assert f.read() == "".join(f"{name.lower()}\n" for name in PEOPLE) + "someone_else\n"
    stored = load(out).members  # each member's inference config, as its run holds it
    assert [from_json(member) for member in stored] == [load(run_dir).for_inference() for run_dir in members]
    faces = np.random.default_rng(0).uniform(size=(5, 32, 32, 1)).astype(np.float32)
    cfg, ensemble = load_run(out)
    assert cfg.embedding_dim == 12 and len(cfg.members) == 2
    parts = [load_run(member)[1](faces).numpy() for member in members]
    expected = np.concatenate(parts, axis=1) / math.sqrt(2)
    np.testing.assert_allclose(ensemble(faces).numpy(), expected, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(expected, axis=1), 1.0, atol=1e-5)
    # the squared distance of two faces is the mean of the members' squared distances
    squared = [np.sum((p[0] - p[1]) ** 2) for p in parts]
    assert np.sum((expected[0] - expected[1]) ** 2) == pytest.approx(np.mean(squared), rel=1e-5)
    export_slim(ensemble, slim, out)
    assert sorted(os.listdir(slim)) == sorted(os.listdir(out))
    np.testing.assert_allclose(load_run(slim)[1](faces).numpy(), expected, atol=1e-6)
    recogniser = Recogniser(slim)  # what verify.py and predict.py --identify read
    data = load_run(members[0])[0].data
    paths = [os.path.join(data, name, f"{name}_0001.jpg") for name in PEOPLE[:2]]
    assert recogniser.outputs(recogniser.faces_of_files(paths)).shape == (2, 12)
    assert recogniser.threshold() == summary["threshold"]


def test_members_that_do_not_share_the_face_or_the_people_are_refused(members, tmp_path):
    cfg = load_run(members[0])[0]
    other = member_run(str(tmp_path / "big"), dataclasses.replace(cfg, input_size=64), 3)
    with pytest.raises(
        InputError, match=r"big: input_size 64, but .*flat has 32 \(an ensemble.s members share the face"
    ):
        make_ensemble([members[0], other], str(tmp_path / "e1"))
    excluded = member_run(str(tmp_path / "ex"), dataclasses.replace(cfg, exclude_people="P0_X"), 4)
    with pytest.raises(InputError, match="ex: exclude_people 'P0_X'"):
        make_ensemble([members[0], excluded], str(tmp_path / "e2"))
    other_people = member_run(str(tmp_path / "mp"), dataclasses.replace(cfg, margin_people="0123456789abcdef"), 5)
    with pytest.raises(InputError, match="mp: margin_people '0123456789abcdef'"):  # the folder held others then
        make_ensemble([members[0], other_people], str(tmp_path / "e2"))
    with pytest.raises(InputError, match="needs two or more --member runs"):
        make_ensemble(members[:1], str(tmp_path / "e3"))
    with pytest.raises(InputError, match="given twice as a --member"):
        make_ensemble([members[0], members[0] + "/."], str(tmp_path / "e3"))
    with pytest.raises(InputError, match="inside the member"):
        make_ensemble(members, os.path.join(members[1], "ens"))
    make_ensemble(members, str(tmp_path / "e4"))
    with pytest.raises(InputError, match="e4: an ensemble already"):
        make_ensemble([members[0], str(tmp_path / "e4")], str(tmp_path / "e5"))
    with pytest.raises(InputError, match="e4: exists already"):
        make_ensemble(members, str(tmp_path / "e4"))
    assert not [name for name in os.listdir(tmp_path) if name.startswith(("e1", "e2", "e3", "e5", ".tmp-"))]
    assert sorted(os.listdir(members[1])) == ["best", "config.json"]


@pytest.mark.parametrize(
    "edit, problem",
    [
        (lambda c: c.update(members=["x", "y"]), '"members" must be two or more member configs'),
        (lambda c: c.update(members=c["members"][:1]), '"members" must be two or more member configs'),
        (lambda c: c["members"][1].update(input_size=64), r"members\[1\]: input_size 64, but .*members\[0\] has 32"),
        (lambda c: c["members"][1].update(task="keypoints68"), r"members\[1\]: \"task\": unknown value 'keypoints68'"),
        (lambda c: c.update(embedding_dim=8), '"embedding_dim" 8 is not its members\' together'),
    ],
)
def test_a_broken_ensemble_config_is_one_line_naming_the_file(members, tmp_path, edit, problem):
    out = str(tmp_path / "ens")
    make_ensemble(members, out)
    path = os.path.join(out, "config.json")
    saved = json.load(open(path))
    edit(saved)
    json.dump(saved, open(path, "w"))
    with pytest.raises(InputError, match=f"^{path}: .*{problem}"):
        Recogniser(out)


def test_the_ensemble_command_makes_a_new_run_that_is_not_trained(members, tmp_path, capsys):
    out = str(tmp_path / "ens")
    code, stdout, err = run_script("ensemble", ["--member", members[0], "--member", members[1], "--run", out], capsys)
    assert code == 0, err
    assert json.loads(stdout.splitlines()[-1])["run"] == out
    code, _, err = run_script("ensemble", ["--member", members[0], "--member", members[1], "--run", out], capsys)
    assert code == 2 and err.strip().endswith("ens: exists already; choose a new --run")
    code, _, err = run_script("train", ["--run", out, "--steps", "10"], capsys)
    assert code == 2 and "ens: an ensemble of trained runs (ensemble.py), not trained itself" in err
    data = load(members[0]).data
    args = ["--run", str(tmp_path / "new"), "--task", "embedding", "--data", data, "--init-from", out]
    code, _, err = run_script("train", args, capsys)
    assert code == 2 and "--init-from: " in err and "an ensemble (its members' weights share names)" in err


def test_an_ensemble_reads_only_its_members_validation_faces(members, tmp_path):
    task = tasks.get("embedding")
    cfg = load(members[0])
    faces = task.all_faces(cfg)
    train_idx, val_idx = task.split_indices(cfg, faces)
    assert len(val_idx) == 9 and len(train_idx) == 9
    for i in train_idx:  # unreadable now: reading any would stop the ensemble
        with open(faces.images.paths[i], "wb") as f:
            f.write(b"not an image")
    summary = make_ensemble(members, str(tmp_path / "ens"))
    assert 0 <= summary["threshold"] <= 2


def test_a_missing_classify_data_stops_the_ensemble_before_any_face_is_read(members, tmp_path, monkeypatch):
    monkeypatch.setattr(tasks.get("embedding"), "validation_faces", None)  # calling it would fail otherwise
    with pytest.raises(InputError, match=r"^--classify-data: .*nowhere"):
        make_ensemble(members, str(tmp_path / "ens"), classify_data=str(tmp_path / "nowhere"))
    assert not os.path.exists(tmp_path / "ens")
