"""label.py (pseudo-labels from a trained model, in the 68-point layout) and --extra-data: the
labelled photos join training, never validation, and leave out the validation people's."""

import csv
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.conftest import assert_each_message_is_a_line, run_script, tiny_config, write_youtube68
from facekp import photos, tasks
from facekp.checkpoints import write_config
from facekp.config import SHIPPED_ALIGNER, SHIPPED_KEYPOINTS, KeypointConfig, validate
from facekp.data import youtube68
from facekp.errors import InputError
from facekp.inference import Predictor
from facekp.labelling import on_photo
from facekp.tasks.keypoints import load_keypoints68

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLES = os.path.join(REPO, "data", "samples")


@pytest.fixture
def photo_folder(tmp_path):
    """Two people's photos in LFW's layout (DIR/<person>/<person>_NNNN.jpg) and one without a face."""
    folder = tmp_path / "photos"
    for person, sample in (("Barack_Obama", "obamas.jpg"), ("Mona_Lisa", "mona_lisa.jpg")):
        os.makedirs(folder / person)
        shutil.copy(os.path.join(SAMPLES, sample), folder / person / f"{person}_0001.jpg")
    Image.new("RGB", (160, 160), (40, 40, 40)).save(folder / "Mona_Lisa" / "Mona_Lisa_0002.jpg")
    return folder


def test_label_skips_what_it_cannot_name_or_read_by_name(photo_folder, tmp_path, capsys):
    os.mkfifo(photo_folder / "Mona_Lisa" / "Mona_Lisa_0003.jpg")  # reading it would block forever
    with open(os.fsencode(photo_folder) + b"/Mona_Lisa/caf\xe9_0004.jpg", "wb") as f:  # not UTF-8
        f.write((photo_folder / "Mona_Lisa" / "Mona_Lisa_0001.jpg").read_bytes())
    code, stdout, stderr = run_script(
        "label", ["--run", SHIPPED_KEYPOINTS, "--out", tmp_path / "out", photo_folder], capsys
    )
    assert code == 0 and '"labelled": 2' in stdout and '"unreadable": 2' in stdout, stderr
    assert "Mona_Lisa_0003.jpg: unreadable image (not a regular file), skipped" in stderr
    assert "caf\\udce9_0004.jpg: file name is not UTF-8 (the CSV could not name it), skipped" in stderr


def test_in_a_log_each_message_about_a_photo_is_a_line_of_its_own(photo_folder, tmp_path, capsys):
    """stderr that is not a terminal (a log, a pipe, capsys here) got the progress bar, and each
    `no face found` or `unreadable image` glued onto one of its redraws."""
    obama = photo_folder / "Barack_Obama"
    shutil.copy(obama / "Barack_Obama_0001.jpg", obama / "Barack_Obama_0002.jpg")  # 5 photos: a bar on a terminal
    (photo_folder / "Mona_Lisa" / "Mona_Lisa_0003.jpg").write_bytes(b"not an image")
    args = ["--run", SHIPPED_KEYPOINTS, "--out", tmp_path / "out", photo_folder]
    code, stdout, err = run_script("label", args, capsys)
    assert code == 0 and '"photos": 5' in stdout and '"labelled": 3' in stdout, err
    message = re.compile(r"\S+/Mona_Lisa_(0002\.jpg: no face found|0003\.jpg: unreadable image \(.*\)), skipped")
    assert_each_message_is_a_line(err, message, 2)


def test_label_writes_the_largest_faces_keypoints_in_the_68_point_layout(photo_folder, tmp_path, capsys):
    out = tmp_path / "labels"
    code, stdout, _ = run_script("label", ["--run", SHIPPED_KEYPOINTS, "--out", out, photo_folder], capsys)
    assert code == 0 and '"labelled": 2' in stdout and '"no_face": 1' in stdout
    assert sorted(os.listdir(out)) == ["convention.txt", "training", "training_frames_keypoints.csv"]
    assert os.path.realpath(out / "training") == os.path.realpath(photo_folder)
    assert (out / "convention.txt").read_text() == Predictor.from_run(SHIPPED_KEYPOINTS).convention + "\n"
    with open(out / youtube68.CSV_NAME) as f:
        rows = list(csv.reader(f))
    assert rows[0] == [""] + [str(i) for i in range(136)]
    assert [row[0] for row in rows[1:]] == ["Barack_Obama/Barack_Obama_0001.jpg", "Mona_Lisa/Mona_Lisa_0001.jpg"]
    # the keypoints are predict.py's for the largest face, after two refinement passes
    faces, _ = photos.faces_in(
        str(photo_folder / "Barack_Obama" / "Barack_Obama_0001.jpg"),
        Predictor.from_run(SHIPPED_KEYPOINTS),
        find_all=False,
        refine=2,
    )
    np.testing.assert_allclose(np.array(rows[1][1:], np.float32).reshape(68, 2), faces[0][2], atol=0.01)
    ann = youtube68.load(str(out))  # train.py --extra-data reads it as it reads the frames
    assert ann.groups == ["Barack_Obama", "Mona_Lisa"] and ann.keypoints.shape == (2, 68, 2)
    assert ann.convention == Predictor.from_run(SHIPPED_KEYPOINTS).convention  # the labels' own


def test_label_with_several_runs_writes_the_mean_of_their_keypoints(photo_folder, tmp_path, capsys):
    """The shipped model's YouTube head and the aligner (YouTube frames only) label in one convention."""
    out = tmp_path / "labels"
    runs = [SHIPPED_KEYPOINTS, SHIPPED_ALIGNER]
    args = ["--run", runs[0], "--run", runs[1], "--convention", "youtube", "--out", out, photo_folder]
    code, stdout, err = run_script("label", args, capsys)
    assert code == 0 and '"labelled": 2' in stdout, err
    with open(out / youtube68.CSV_NAME) as f:
        labelled = np.array(list(csv.reader(f))[1][1:], np.float32).reshape(68, 2)
    photo = str(photo_folder / "Barack_Obama" / "Barack_Obama_0001.jpg")
    each = [
        photos.faces_in(photo, Predictor.from_run(run, convention="youtube"), find_all=False, refine=2)[0][0][2]
        for run in runs
    ]
    assert np.abs(each[0] - each[1]).max() > 0.1  # two models that differ: the labels are their mean
    np.testing.assert_allclose(labelled, np.mean(each, axis=0), atol=0.01)


@pytest.mark.parametrize(
    "out, message",
    [
        ("notes", "exists and is not a label.py folder"),
        ("photos/labels", "inside the photos' folder"),
        ("link", "a link; give the folder itself"),
        ("a,b", "without commas"),
        ("missing/labels", "does not exist"),
    ],
)
def test_label_refuses_an_out_it_should_not_write_before_labelling(photo_folder, tmp_path, capsys, out, message):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "keep.txt").write_text("mine")
    os.symlink(tmp_path / "notes", tmp_path / "link")
    code, _, err = run_script("label", ["--run", SHIPPED_KEYPOINTS, "--out", tmp_path / out, photo_folder], capsys)
    assert code == 2 and message in err and err.count("\n") == 1
    assert os.listdir(tmp_path / "notes") == ["keep.txt"] and not (photo_folder / "labels").exists()


def test_label_needs_a_68_point_run(photo_folder, tmp_path, capsys):
    kaggle = tmp_path / "k15"
    write_config(str(kaggle), KeypointConfig(task="kaggle15"))
    code, _, err = run_script("label", ["--run", kaggle, "--out", tmp_path / "o", photo_folder], capsys)
    assert code == 2 and "trained for kaggle15; labels come from a keypoints68 run" in err
    twice = ["--run", SHIPPED_KEYPOINTS, "--run", SHIPPED_KEYPOINTS + "/", "--out", tmp_path / "o", photo_folder]
    code, _, err = run_script("label", twice, capsys)
    assert code == 2 and "--run: a run given twice" in err and not (tmp_path / "o").exists()


def test_the_person_of_a_photo_in_a_folder_is_the_folder():
    assert youtube68.person_of("Aidan_Quinn/IMG_0001.jpg") == "Aidan_Quinn"
    assert youtube68.person_of("Abdel_Aziz_Al-Hakim_00.jpg") == "Abdel_Aziz_Al-Hakim"


def test_label_with_no_face_anywhere_writes_nothing(tmp_path):
    (tmp_path / "photos").mkdir()
    Image.new("RGB", (160, 160), (40, 40, 40)).save(tmp_path / "photos" / "Nobody_0001.jpg")
    out = tmp_path / "labels"
    done = subprocess.run(
        [sys.executable, "label.py", "--run", SHIPPED_KEYPOINTS, "--out", str(out), str(tmp_path / "photos")],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert done.returncode == 2 and "no face labelled in its 1 images" in done.stderr
    assert "Traceback" not in done.stderr and not out.exists()


def _extra_folder(folder, people):
    """A 68-point folder whose people are `people` (names as write_youtube68 gives them), 2 faces each."""
    write_youtube68(str(folder), people=max(people) + 1, per_person=2, seed=5)
    with open(folder / youtube68.CSV_NAME) as f:
        lines = f.read().splitlines()
    kept = [
        line for line in lines[1:] if youtube68.person_of(line.split(",", 1)[0]) in {f"Person_{p:02d}" for p in people}
    ]
    (folder / youtube68.CSV_NAME).write_text("\n".join([lines[0], *kept]) + "\n")
    return str(folder)


def test_extra_data_trains_beside_the_data_and_never_on_validation_people(tmp_path):
    cfg = tiny_config(write_youtube68(str(tmp_path / "yt")))
    task = tasks.get(cfg.task)
    alone_train, alone_val = task.split(cfg, load_keypoints68(cfg))
    val_people = set(alone_val.groups)
    extra = _extra_folder(tmp_path / "extra", range(8))  # the same 8 people, other photos
    with_extra = KeypointConfig(**{**cfg.__dict__, "extra_data": extra})
    train, val = task.split(with_extra, load_keypoints68(with_extra))
    assert val.names == alone_val.names  # the same validation faces, and no extra ones
    np.testing.assert_array_equal(val.keypoints, alone_val.keypoints)
    added = train.names[len(alone_train) :]
    assert train.names[: len(alone_train)] == alone_train.names
    assert len(added) == 2 * (8 - len(val_people)) and not set(train.groups[len(alone_train) :]) & val_people


def test_extra_data_refusals_name_the_flag(tmp_path):
    cfg = tiny_config(write_youtube68(str(tmp_path / "yt")))
    for extra, message in ((cfg.data, "given already"), (str(tmp_path / "none"), "--extra-data: .*not found")):
        with pytest.raises(InputError, match=message):
            load_keypoints68(KeypointConfig(**{**cfg.__dict__, "extra_data": extra}))
    with pytest.raises(InputError, match="--extra-data: kaggle15 trains on --data alone"):
        validate(KeypointConfig(task="kaggle15", data=str(tmp_path), extra_data=str(tmp_path)))


def test_a_label_needs_every_runs_keypoints_finite_and_on_the_photo():
    points = np.full((2, 68, 2), 50.0)
    assert on_photo(points, (100, 120, 3)) and on_photo(points[0], (100, 120))
    points[1, 3] = (50.0, 140.0)  # one run's point below the photo: its mean with the other run's is on it
    assert not on_photo(points, (100, 120, 3)) and on_photo(points.mean(axis=0), (100, 120, 3))
    points[1, 3] = np.nan
    assert not on_photo(points, (100, 120, 3))
