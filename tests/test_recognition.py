"""Recognition: triplet mining, the P x K sampler, a tiny classifier that learns, the LFW 2017
submission byte for byte, exclusions and pairs, verification, and gallery identification."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from facekp import losses, metrics, recognise, tasks, verification
from facekp.config import KeypointConfig, RecognitionConfig
from facekp.data import identities, pipeline
from facekp.errors import InputError
from facekp.data.samples import stratified_split
from facekp.recognise import Gallery
from facekp.tasks.identity import inverse_frequency_weights
from facekp.submission import competition_classes, write_class_submission
from tests.conftest import TINY_MODEL, flag_words, run_script

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ---- triplet loss and semi-hard mining on hand-made embeddings


def test_semihard_negative_is_the_closest_one_farther_than_the_positive():
    # 1-D points: anchor 0 at 0.0, its positive 1 at 0.5; negatives at 0.3 (hard: closer than the
    # positive), 0.6 (semi-hard: farther, within the margin) and 2.0 (easy).
    emb = tf.constant([[0.0], [0.5], [0.3], [0.6], [2.0]])
    labels = tf.constant([0, 0, 1, 2, 3])
    d = losses.squared_distances(emb).numpy()
    neg = losses.semihard_negatives(tf.constant(d), labels).numpy()
    assert neg[0, 1] == pytest.approx(0.36)  # 0.6**2: closest negative with d_an > d_ap = 0.25
    # anchor 1 (0.5), positive 0: d_ap = 0.25; negatives at squared 0.04, 0.01, 2.25 -> 2.25
    assert neg[1, 0] == pytest.approx(2.25)


def test_semihard_falls_back_to_the_farthest_negative_when_none_is_farther():
    emb = tf.constant([[0.0], [3.0], [1.0], [2.0]])  # the positive (3.0) is farther than every negative
    labels = tf.constant([0, 0, 1, 1])
    neg = losses.semihard_negatives(losses.squared_distances(emb), labels).numpy()
    assert neg[0, 1] == pytest.approx(4.0)  # farthest negative of anchor 0: 2.0**2


def test_triplet_loss_value_by_hand():
    emb = tf.constant([[0.0], [0.5], [0.6], [0.9]])
    labels = tf.constant([0, 0, 1, 1])
    # pairs (a,p): (0,1) d_ap .25, n: .36 -> .25-.36+.2 = .09; (1,0) d_ap .25, negatives .01, .16
    # -> none farther -> farthest .16 -> .29; (2,3) d_ap .09, negatives .36, .01 -> .36 -> 0;
    # (3,2) d_ap .09, negatives .81, .16 -> .16 -> .13
    loss = losses.triplet_semihard(emb, labels, margin=0.2).numpy()
    assert loss == pytest.approx((0.09 + 0.29 + 0.0 + 0.13) / 4, abs=1e-6)


def test_triplet_loss_is_zero_for_well_separated_people():
    emb = tf.math.l2_normalize(tf.constant([[1.0, 0.0], [1.0, 0.01], [-1.0, 0.0], [-1.0, 0.01]]), axis=1)
    assert losses.triplet_semihard(emb, tf.constant([0, 0, 1, 1]), 0.2).numpy() == pytest.approx(0.0)


# ---- the P x K sampler


def test_person_batches_hold_k_distinct_images_of_p_people():
    counts = np.array([5, 2, 7, 4, 3])
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    person_of = np.repeat(np.arange(5), counts)
    seen = set()
    for step in range(5):  # 5 steps x 2 people = two epochs of the 5 people
        index = pipeline.person_batch_indices(
            step, 2, 2, tf.constant(offsets, tf.int32), tf.constant(counts, tf.int32), tf.constant(7, tf.int64)
        ).numpy()
        people = person_of[index].reshape(2, 2)
        assert (people[:, 0] == people[:, 1]).all() and people[0, 0] != people[1, 0]
        assert len(set(index)) == 4  # distinct images: every person has at least K=2
        seen.update(people[:, 0])
    assert seen == set(range(5))
    args = (2, 2, tf.constant(offsets, tf.int32), tf.constant(counts, tf.int32), tf.constant(7, tf.int64))
    first, again = (pipeline.person_batch_indices(3, *args).numpy() for _ in range(2))  # same seed, same batch
    np.testing.assert_array_equal(first, again)


def test_face_dataset_embedding_batches_are_p_by_k():
    faces = identities.Faces(
        np.zeros((12, 32, 32, 1), np.uint8),
        np.repeat(np.arange(4), 3).astype(np.int32),
        ["a", "b", "c", "d"],
        [str(i) for i in range(12)],
    )
    cfg = RecognitionConfig(
        task="embedding", embedding_loss="triplet", input_size=32, batch_size=4, images_per_person=2, steps=3
    )
    batch = next(iter(tasks.get("embedding").train_batches(cfg, faces, 0)))
    labels = batch["label"].numpy()
    assert batch["image"].shape == (4, 32, 32, 1)
    assert labels[0] == labels[1] and labels[2] == labels[3] and labels[0] != labels[2]


def test_class_weights_and_stratified_split():
    labels = np.array([0] * 8 + [1] * 2)
    np.testing.assert_allclose(inverse_frequency_weights(labels, 3), [10 / 16, 10 / 4, 0.0])
    train, val = stratified_split(labels, 0.25, 0)
    assert sorted(labels[val]) == [0, 0, 1] and len(train) == 7 and not set(train) & set(val)


# ---- data: folders, arrays, exclusions, pairs


def write_people(folder, people, per_person=4, size=40, seed=0):
    """DIR/<person>/<person>_NNNN.jpg: each person a distinct pattern (stripes at an angle), noisy."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    for p, name in enumerate(people):
        os.makedirs(os.path.join(folder, name), exist_ok=True)
        angle = np.pi * p / len(people)
        pattern = 127 + 100 * np.sin((xx * np.cos(angle) + yy * np.sin(angle)) / 3.0)
        for i in range(per_person):
            image = np.clip(pattern + rng.normal(0, 20, pattern.shape), 0, 255).astype(np.uint8)
            Image.fromarray(image).save(os.path.join(folder, name, f"{name}_{i + 1:04d}.jpg"), quality=95)
    return folder


def test_load_folders_excludes_people_and_needs_min_images(tmp_path):
    folder = write_people(str(tmp_path / "people"), ["Ann_A", "Bob_B", "Cid_C"], per_person=3)
    os.remove(os.path.join(folder, "Cid_C", "Cid_C_0003.jpg"))
    faces = identities.load_folders(folder, 32, 1, "full", exclude={"ann_a"}, min_images=3)
    assert faces.class_names == ["Bob_B"] and faces.images.shape == (3, 32, 32, 1)
    with open(os.path.join(folder, "Bob_B", "bad.jpg"), "w") as f:
        f.write("not an image")
    with pytest.raises(InputError, match="bad.jpg: not a readable image"):  # found when the faces are read
        identities.load_folders(folder, 32, 1, "full").read()


def write_pairs(path):
    with open(path, "w") as f:
        f.write(
            "2\t2\nAnn_A\t1\t2\nBob_B\t1\t3\nAnn_A\t1\tCid_C\t2\nBob_B\t2\tDee_D\t1\n"
            "Eve_E\t1\t2\nCid_C\t1\t2\nEve_E\t3\tFay_F\t1\nGus_G\t1\tCid_C\t3\n"
        )
    return path


def test_read_pairs_and_exclusions(tmp_path):
    pairs = write_pairs(str(tmp_path / "pairs.txt"))
    folds = identities.read_pairs(pairs)
    assert [len(f) for f in folds] == [4, 4]
    assert folds[0][0] == identities.Pair("Ann_A", 1, "Ann_A", 2) and folds[0][0].same and not folds[0][2].same
    names = tmp_path / "names.txt"
    names.write_text("Zed Z\n")
    excluded = identities.read_exclusions(f"{pairs}:2,lfw2017,{names},Al Bee")
    assert {"eve_e", "cid_c", "fay_f", "gus_g", "george_w_bush", "zed_z", "al_bee"} <= excluded
    assert "ann_a" not in excluded  # fold 1 only
    with pytest.raises(InputError, match="folds must be within 1-2"):
        identities.read_exclusions(f"{pairs}:3")
    for name, text, message in [
        ("bad.txt", "10 300\nAnn_A 1\n", "bad.txt: not an LFW pairs file"),
        ("zero.txt", "2 0\n", "zero.txt: header promises 2 folds of 0 pairs: none to judge"),
        ("same.txt", "1 1\nAnn_A 1 2\nBob_B 1 2\n", "same.txt: fold 1 holds only same-person pairs"),
        ("empty.txt", "\n", "empty.txt: empty pairs file"),
    ]:
        (tmp_path / name).write_text(text)
        with pytest.raises(InputError, match=message):
            identities.read_pairs(str(tmp_path / name))


def write_lfw2017(folder, seed=0, n_train=60, n_test=9):
    """A tiny LFW 2017 folder: 3 people as distinct 50x37 stripe patterns."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:50, 0:37]

    def faces(labels):
        return np.stack(
            [
                np.clip(
                    127 + 100 * np.sin((xx * np.cos(a) + yy * np.sin(a)) / 3.0) + rng.normal(0, 15, xx.shape), 0, 255
                ).ravel()
                for a in np.pi * np.asarray(labels) / 3
            ]
        ).astype(np.float32)

    os.makedirs(folder, exist_ok=True)
    y = np.arange(n_train) % 3
    np.save(os.path.join(folder, "X_train.npy"), faces(y))
    np.save(os.path.join(folder, "y_train.npy"), y.astype(np.int64))
    np.save(os.path.join(folder, "X_test.npy"), faces(np.arange(n_test) % 3))
    with open(os.path.join(folder, "target_names.txt"), "w") as f:
        f.write("Ann A\nBob B\nCid C\n")
    return folder


def test_arrays_folder_loads_and_bad_arrays_are_named(tmp_path):
    folder = write_lfw2017(str(tmp_path / "lfw2017"))
    faces = identities.load_arrays(folder, 32, 1)
    assert faces.images.shape == (60, 32, 32, 1) and faces.class_names == ["Ann A", "Bob B", "Cid C"]
    np.save(os.path.join(folder, "y_train.npy"), np.arange(60) % 5)
    with pytest.raises(InputError, match="y_train.npy: labels must be whole numbers 0..2"):
        identities.load_arrays(folder, 32, 1)


@pytest.mark.parametrize(
    "name, write, message",
    [
        ("X_test.npy", lambda path: open(path, "wb").close(), "X_test.npy: cannot read (No data left in file)"),
        ("X_test.npy", lambda path: np.savez(open(path, "wb"), a=np.zeros(3)), "an .npz archive of arrays"),
        (
            "X_test.npy",
            lambda path: np.save(path, np.array(["a", "b"])),
            "X_test.npy: holds <U1 values, expected numbers",
        ),
        ("X_test.npy", lambda path: np.save(path, np.zeros((0, 1850))), "X_test.npy: no faces to predict"),
        ("X_test.npy", lambda path: np.save(path, np.float32(5)), "X_test.npy: a single number, expected an array"),
        ("X_train.npy", lambda path: np.save(path, np.float32(5)), "X_train.npy: a single number, expected an array"),
        (
            "X_test.npy",
            lambda path: np.save(path, np.full((2, 1850), 300.0)),
            "pixel values from 300 to 300, expected 0..255",
        ),
        ("X_train.npy", lambda path: open(path, "wb").write(b"PK\x03\x04 cut"), "X_train.npy: cannot read ("),
        ("y_train.npy", lambda path: np.save(path, np.arange(60) % 3 + 0.5), "labels must be whole numbers 0..2"),
    ],
)
def test_broken_arrays_are_one_line_naming_the_file(tmp_path, name, write, message):
    folder = write_lfw2017(str(tmp_path / "lfw2017"))
    write(os.path.join(folder, name))
    with pytest.raises(InputError, match=re.escape(message)):
        read = identities.load_test_arrays if name == "X_test.npy" else identities.load_arrays
        read(folder, 32, 1)


# ---- training through the one loop, submission, verification, identification


def run_cli(script, *args):
    return subprocess.run(
        [sys.executable, os.path.join(ROOT, script), *args], capture_output=True, text=True, cwd=ROOT, timeout=600
    )


TINY = [*TINY_MODEL, *flag_words(log_every=10, warmup_steps=5, rotation=0, scale_jitter=0, shift_jitter=0)]


def train_cli(capsys, run, data, *words, **flags):
    """(exit code, stdout, stderr) of train.py for `run` on `data`, run in this process, with flags
    as keyword arguments (and command-line words)."""
    return run_script("train", ["--run", run, "--data", data, *flag_words(**flags), *words], capsys)


@pytest.mark.slow
def test_tiny_classifier_learns_and_submission_is_byte_exact(tmp_path, capsys):
    data = write_lfw2017(str(tmp_path / "lfw2017"))
    run = str(tmp_path / "runs" / "id")
    code, out, err = train_cli(
        capsys, run, data, *TINY, task="identity", steps=60, eval_every=60, batch_size=16, lr=3e-3, face_crop="auto"
    )
    assert code == 0, err
    line = [ln for ln in out.splitlines() if ln.startswith("validation:")][0]
    assert float(line.split("macro_f1=")[1].split(",")[0]) >= 0.9
    out = str(tmp_path / "sub.csv")
    code, _, err = run_script("infer_and_submit", ["--task", "lfw2017", "--run", run, "--out", out], capsys)
    assert code == 0, err
    with open(out, "rb") as f:
        assert f.read() == b"ImageId,PredictedClass\n" + b"".join(f"{i},{i % 3}\n".encode() for i in range(9))


def test_the_svm_is_measured_on_every_face_by_a_classifier_that_never_saw_it():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], [12, 6, 5])  # unbalanced, as LFW 2017's people are
    centres = 3 * np.eye(3, 8)
    embeddings = centres[labels] + rng.normal(0, 0.3, (len(labels), 8))
    assert (recognise.cross_validated_classes(embeddings, labels) == labels).all()
    embeddings[0] = centres[1]  # a face of person 0 that looks like person 1: no fold saw it
    predicted = recognise.cross_validated_classes(embeddings, labels)
    assert predicted[0] == 1 and (predicted[1:] == labels[1:]).all()
    with pytest.raises(InputError, match="^data/one_each: at least one person needs two or more faces"):
        recognise.cross_validated_classes(embeddings[[0, 12, 18]], labels[[0, 12, 18]], source="data/one_each")


def test_class_submission_format_and_name_mapping(tmp_path):
    path = str(tmp_path / "s.csv")
    write_class_submission(path, competition_classes([1, 0, 1], ["Bob_B", "Ann_A"], ["Ann A", "Bob B"]))
    assert open(path, "rb").read() == b"ImageId,PredictedClass\n0,0\n1,1\n2,0\n"
    with pytest.raises(
        InputError, match=re.escape("d/target_names.txt: the model's people ['Zed'] are not among its 1 names")
    ):
        competition_classes([0], ["Zed"], ["Ann A"], "d/target_names.txt")


def test_best_threshold_and_fold_protocol():
    distances = np.array([0.1, 0.2, 0.3, 0.8, 0.9, 0.35, 0.85])
    same = np.array([1, 1, 1, 0, 0, 0, 1], bool)  # one same pair (0.85) no threshold can get right
    t = metrics.best_threshold(distances, same)
    assert (
        t == pytest.approx(0.325) and metrics.verification_metrics(distances, same, t)["verification_accuracy"] == 6 / 7
    )
    folds = {0: (distances, same), 1: (distances + 0.05, same)}
    per_fold = verification.evaluate_folds(folds)
    assert per_fold[0]["threshold"] == pytest.approx(metrics.best_threshold(distances + 0.05, same))
    assert verification.summary(per_fold)["folds"] == 2


@pytest.mark.slow
def test_embedding_run_verifies_only_unseen_people_and_identifies_a_gallery(tmp_path, capsys):
    people = [f"P{i}_X" for i in range(6)]
    data = write_people(str(tmp_path / "lfw"), people, per_person=4, size=40)
    pairs = str(tmp_path / "lfw" / "pairs.txt")
    with open(pairs, "w") as f:  # fold 1: people 4 and 5 only; fold 2: people 0 and 1
        f.write("2\t1\nP4_X\t1\t2\nP4_X\t3\tP5_X\t1\nP0_X\t1\t2\nP0_X\t1\tP1_X\t2\n")
    run = str(tmp_path / "runs" / "emb")
    code, _, err = train_cli(
        capsys,
        run,
        data,
        *TINY,
        task="embedding",
        steps=20,
        eval_every=20,
        batch_size=8,
        images_per_person=2,
        exclude_people=f"{pairs}:1",
        val_fraction=0.25,
    )
    assert code == 0, err
    assert os.path.isfile(os.path.join(run, "recognition.json"))
    with open(os.path.join(run, "trained_people.txt")) as f:  # whom it trained on, kept with the model
        assert f.read() == "".join(f"p{i}_x\n" for i in range(4))
    # fold 2's people were trained on: judging it is refused; fold 1 alone cannot pick a threshold
    refused = run_cli("verify.py", "--pairs", pairs, "--run", run, "--folds", "1-2")  # a real process
    assert refused.returncode == 2 and "trained on" in refused.stderr and "Traceback" not in refused.stderr

    gallery = str(tmp_path / "gallery")
    for name in ("P4_X", "P5_X"):
        os.makedirs(os.path.join(gallery, name))
        Image.open(os.path.join(data, name, f"{name}_0001.jpg")).save(os.path.join(gallery, name, "a.jpg"))
    out = str(tmp_path / "out")
    probe = os.path.join(gallery, "P5_X", "a.jpg")
    code, _, err = run_script("predict", ["--identify", gallery, "--embedding-run", run, "--out", out, probe], capsys)
    assert code == 0, err
    csv = [f for f in os.listdir(out) if f.startswith("prediction-")][0]
    header, row = open(os.path.join(out, csv)).read().splitlines()
    assert header.endswith(",identity,distance") and header.count(",") == 7 + 136 + 1
    assert row.split(",")[-2] == "P5_X" and float(row.split(",")[-1]) < 1e-3  # its own enrolled image
    os.remove(os.path.join(out, csv))
    other = os.path.join(data, "P5_X", "P5_X_0002.jpg")  # not enrolled: farther than any tiny threshold
    args = ["--identify", gallery, "--embedding-run", run, "--threshold", "1e-9", "--out", out, other]
    code, _, err = run_script("predict", args, capsys)
    assert code == 0, err
    csv = [f for f in os.listdir(out) if f.startswith("prediction-")][0]
    header, row = open(os.path.join(out, csv)).read().splitlines()
    assert row.split(",")[-2] == "unknown"


def test_a_gallery_leaves_hidden_folders_out_and_refuses_a_person_named_unknown(tmp_path, capsys):
    for person in (".ipynb_checkpoints", "Ann_A", "unknown"):
        os.makedirs(tmp_path / "g" / person)
        Image.new("L", (40, 40), 128).save(tmp_path / "g" / person / "a.jpg")
    assert list(identities.person_folders(str(tmp_path / "g"))) == ["Ann_A", "unknown"]
    code, _, err = run_script("predict", ["--identify", str(tmp_path / "g"), str(tmp_path / "g" / "Ann_A")], capsys)
    assert (
        code == 2
        and err == f"error: {tmp_path / 'g' / 'unknown'}: 'unknown' names faces of nobody enrolled: rename it\n"
    )
    afile = tmp_path / "g" / "Ann_A" / "a.jpg"
    code, _, err = run_script("verify", ["--pairs", "p.txt", "--run", "r", "--folds", "1", "--out", afile], capsys)
    assert code == 2 and err == f"error: {afile}: not a folder (--out names the folder the ROC plot goes into)\n"


def test_gallery_names_the_nearest_person_or_unknown():
    gallery = Gallery(np.array([[1.0, 0.0], [0.0, 1.0], [0.1, 0.99]]), ["ann", "bob", "bob"], threshold=0.5)
    (name1, d1), (name2, _) = gallery.identify(np.array([[0.95, 0.05], [-1.0, 0.0]]))
    assert name1 == "ann" and d1 == pytest.approx(np.hypot(0.05, 0.05)) and name2 == "unknown"


def test_keypoint_trunk_initialises_the_embedding_network(tmp_path):
    from facekp.checkpoints import load_backbone_weights
    from facekp.models.keypoints import resnet
    from facekp.models.recognition import embedding_network

    keypoints = resnet(KeypointConfig(input_size=32, width=8), 68)
    path = str(tmp_path / "kp.weights.h5")
    keypoints.save_weights(path)
    embedding = embedding_network(RecognitionConfig(input_size=32, width=8))
    report = load_backbone_weights(embedding, path)
    assert "skipped" in report and "embedding_dense/kernel" in report
    source = {v.path: v.numpy() for v in keypoints.variables}
    np.testing.assert_array_equal(embedding.get_layer("s4b1_a_conv").kernel.numpy(), source["s4b1_a_conv/kernel"])


def test_a_flag_of_another_task_is_one_clear_error(tmp_path, capsys):
    data = write_lfw2017(str(tmp_path / "lfw2017"))
    code, _, err = train_cli(capsys, str(tmp_path / "r"), data, task="keypoints68", triplet_margin=0.3)
    assert code == 2 and "--triplet-margin: not a setting of KeypointConfig" in err
    code, _, err = train_cli(
        capsys,
        str(tmp_path / "r"),
        data,
        task="embedding",
        embedding_loss="triplet",
        batch_size=10,
        images_per_person=4,
    )
    assert code == 2 and "multiple of --images-per-person" in err  # P x K batches: triplet only
    assert not os.path.exists(tmp_path / "r")


def test_classify_data_that_is_not_there_or_has_no_two_faces_of_anyone_is_refused_before_step_0(tmp_path, capsys):
    data = write_people(str(tmp_path / "lfw"), [f"P{i}_X" for i in range(4)], per_person=2, size=40)
    nowhere = str(tmp_path / "nowhere")
    code, _, err = train_cli(
        capsys, str(tmp_path / "r"), data, task="embedding", classify_data=nowhere, batch_size=4, images_per_person=2
    )
    assert code == 2 and err.strip().splitlines() == [
        f"error: --classify-data: {tmp_path / 'nowhere'}: data folder not found"
    ]
    assert not os.path.exists(tmp_path / "r")
    one_each = write_people(str(tmp_path / "one_each"), ["A_A", "B_B"], per_person=1, size=40)
    code, _, err = train_cli(
        capsys, str(tmp_path / "r"), data, task="embedding", classify_data=one_each, batch_size=4, images_per_person=2
    )
    assert code == 2 and err.strip().splitlines() == [
        f"error: --classify-data: {one_each}: at least one person needs two or more faces to measure the classifier"
    ]
    assert not os.path.exists(tmp_path / "r")


def test_validation_pairs_draw_a_few_same_pairs_per_person_and_as_many_others():
    labels = np.array([0] * 10 + [1, 1, 2, 2, 3, 3, 4, 5])  # person 0: ten video frames, 45 same pairs
    i, j, same = metrics.validation_pairs(labels, same_per_person=3)
    assert (i < j).all() and (same == (labels[i] == labels[j])).all()
    assert np.bincount(labels[i[same]]).tolist() == [3, 1, 1, 1]  # not 45 of person 0
    assert same.sum() == (~same).sum() == 6 and len(set(zip(i, j))) == 12
    again = metrics.validation_pairs(labels, same_per_person=3)
    assert all((a == b).all() for a, b in zip((i, j, same), again))  # seeded


def test_face_files_of_any_name_are_read_and_a_fifo_is_refused_by_name(tmp_path):
    """verify.py and recognition training read face files by OpenCV, which crashed on a file name
    that is not UTF-8 and would block forever on a FIFO."""
    name = os.fsencode(tmp_path) + b"/caf\xe9_0001.jpg"
    Image.new("RGB", (40, 30), (200, 100, 50)).save(name, format="JPEG")
    face = identities.read_image(os.fsdecode(name), 3)
    assert face.shape == (30, 40, 3) and abs(int(face[15, 20, 0]) - 200) < 8
    os.mkfifo(tmp_path / "pipe.jpg")
    with pytest.raises(InputError, match="pipe.jpg: not a regular file"):
        identities.read_image(str(tmp_path / "pipe.jpg"), 1)


def test_verify_without_a_run_judges_the_shipped_embedding_on_the_folds_it_never_saw(tmp_path, capsys, monkeypatch):
    from facekp import verification
    from facekp.config import SHIPPED_EMBEDDING, SHIPPED_EMBEDDING_FOLDS

    asked = []

    def protocol(runs, pairs, images):
        asked.append(runs)
        raise InputError("stop here")

    monkeypatch.setattr(verification, "run_protocol", protocol)
    code, _, err = run_script("verify", ["--pairs", "p.txt", "--out", tmp_path], capsys)
    assert code == 2 and err == "error: stop here\n" and asked == [[(SHIPPED_EMBEDDING, SHIPPED_EMBEDDING_FOLDS)]]
    code, _, err = run_script("verify", ["--pairs", "p.txt", "--folds", "1-5"], capsys)
    assert code == 2 and err == "error: --run given 0 times, --folds 1: give one --folds per --run\n"
    with open(os.path.join(SHIPPED_EMBEDDING, "config.json")) as f:  # the folds its training left out
        assert f"pairs.txt:{SHIPPED_EMBEDDING_FOLDS}," in f.read()
