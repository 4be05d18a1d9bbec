"""300-W .pts folders and dlib imglab XML: exact round trips, training on them (with one head per
labelling convention beside a YouTube-Faces CSV), and one line for each bad file."""

import json
import os

import numpy as np
import pytest

from facekp.config import KeypointConfig
from facekp.data import landmark_files
from facekp.errors import InputError
from facekp.tasks.keypoints import KEYPOINTS68, load_keypoints68
from tests.conftest import read_jsonl, run_script, synthetic_face, tiny_config, write_youtube68


def write_pts_folder(folder, photos=6, faces_per_photo=2, seed=1):
    """300-W's layout, nested (helen/trainset/NAME_N.jpg + .pts, as AFW names faces of one photo);
    returns {pts path: (68, 2) 0-based points}."""
    rng = np.random.default_rng(seed)
    written = {}
    for p in range(photos):
        sub = os.path.join(folder, "helen", "trainset") if p % 2 else os.path.join(folder, "afw")
        os.makedirs(sub, exist_ok=True)
        for f in range(1, faces_per_photo + 1):
            image, points = synthetic_face(rng)
            stem = os.path.join(sub, f"{1000 + p}_{f}")
            image.save(stem + (".png" if f % 2 else ".jpg"))
            landmark_files.write_pts(stem + ".pts", points)
            written[stem + ".pts"] = points
    return written


def test_pts_folder_round_trips_exactly_with_one_based_coordinates(tmp_path):
    written = write_pts_folder(str(tmp_path / "wild"))
    ann = landmark_files.load(str(tmp_path / "wild"))
    assert ann.convention == "300w"
    assert len(ann.paths) == len(written) == 12
    for pts, points, path, group in zip(sorted(written), ann.keypoints, ann.paths, ann.groups):
        np.testing.assert_array_equal(points, written[pts])
        assert os.path.splitext(path)[0] == os.path.splitext(pts)[0]
        assert "_" not in os.path.basename(group)  # the faces of one photo share its group
    first = sorted(written)[0]
    with open(first) as f:
        lines = f.read().splitlines()
    assert lines[:3] == ["version: 1", "n_points:  68", "{"] and lines[-1] == "}"
    x, y = (float(v) for v in lines[3].split())
    assert (x, y) == pytest.approx(tuple(written[first][0] + 1), abs=1e-3)  # 1-based on disk
    assert len(set(ann.groups)) == 6


def test_imglab_round_trips_exactly_skipping_ignored_and_unlabelled_boxes(tmp_path):
    rng = np.random.default_rng(2)
    faces = {}
    for name in ("one.jpg", "sub/two.png"):
        image, points = synthetic_face(rng, size=160)
        os.makedirs(os.path.dirname(str(tmp_path / name)), exist_ok=True)
        image.save(tmp_path / name)
        faces[name] = [points, points * 0.5 + 20] if name == "one.jpg" else [points]
    xml = str(tmp_path / "faces.xml")
    landmark_files.write_imglab(xml, faces)
    with open(xml) as f:
        text = f.read()
    text = text.replace(
        '<image file="sub/two.png">',
        "<image file=\"sub/two.png\">\n<box top='1' left='1' width='9' height='9' ignore='1'>"
        + "".join(f"<part name='{k}' x='5' y='5'/>" for k in range(68))
        + "</box>\n<box top='1' left='1' width='9' height='9'/>",
    )
    with open(xml, "w") as f:
        f.write(text)
    ann = landmark_files.load(xml)
    assert [os.path.relpath(p, tmp_path) for p in ann.paths] == ["one.jpg", "one.jpg", os.path.join("sub", "two.png")]
    np.testing.assert_array_equal(ann.keypoints, np.stack([*faces["one.jpg"], *faces["sub/two.png"]]))
    assert ann.groups[0] == ann.groups[1] != ann.groups[2] and ann.convention == "300w"


def pts_with(tmp_path, edit):
    folder = tmp_path / "bad"
    written = write_pts_folder(str(folder), photos=2, faces_per_photo=1)
    path = sorted(written)[0]
    with open(path) as f:
        lines = f.read().splitlines()
    edit(lines, path)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return str(folder), path


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda lines, path: lines.__delitem__(10), r"67 points between '\{' and '\}', expected 68"),
        (lambda lines, path: lines.__setitem__(1, "n_points: 5"), "n_points is 5, expected 68"),
        (lambda lines, path: lines.__setitem__(7, "12.0 abc"), r"line 8: expected two numbers 'x y', got '12.0 abc'"),
        (lambda lines, path: lines.__setitem__(7, "12.0 nan"), "line 8: coordinates must be finite"),
        (
            lambda lines, path: lines.__setitem__(7, "-900 10"),
            r"point 5 \(x = -901\) lies more than a face box outside",
        ),
        (
            lambda lines, path: (
                os.remove(path[:-4] + ".jpg") if os.path.exists(path[:-4] + ".jpg") else os.remove(path[:-4] + ".png")
            ),
            "no image beside it",
        ),
    ],
)
def test_bad_pts_files_are_one_line_naming_the_file(tmp_path, capsys, edit, message):
    folder, path = pts_with(tmp_path, edit)
    with pytest.raises(InputError, match=message) as raised:
        landmark_files.load(folder)
    assert str(raised.value).startswith(path)
    code, _, err = run_script("train", ["--data", folder, "--run", tmp_path / "run", "--steps", "2"], capsys)
    assert code == 2 and err.count("\n") == 1 and path in err
    assert not os.path.exists(tmp_path / "run")


@pytest.mark.parametrize(
    "body, message",
    [
        ("<dataset><images><image file='a.jpg'><box", "malformed XML"),
        (
            "<dataset><images>\n<image file='gone.jpg'><box top='0' left='0' width='5' height='5'>"
            + "".join(f"<part name='{k}' x='{k}' y='{k % 7}'/>" for k in range(68))
            + "</box></image>",
            "line 2 \\(gone.jpg\\): image .*gone.jpg not found",
        ),
        (
            "<dataset><images><image file='a.jpg'><box top='0' left='0' width='5' height='5'>"
            "<part name='00' x='one' y='2'/></box></image></images></dataset>",
            "x='one' is not a number",
        ),
        (
            "<dataset><images><image file='a.jpg'><box top='0' left='0' width='5' height='5'>"
            "<part name='00' x='1' y='2'/></box></image></images></dataset>",
            "1 parts, expected 68",
        ),
        ("<dataset><images></images></dataset>", "no labelled faces"),
    ],
)
def test_bad_imglab_files_are_one_line_naming_the_file(tmp_path, body, message):
    xml = tmp_path / "faces.xml"
    xml.write_text(body if body.endswith("</dataset>") or "malformed" in message else body + "</images></dataset>")
    with pytest.raises(InputError, match=message) as raised:
        landmark_files.load(str(xml))
    assert str(raised.value).startswith(str(xml)) and "\n" not in str(raised.value)


def test_a_run_trains_on_pts_with_a_youtube_csv_one_head_each_and_resumes(tmp_path, capsys):
    wild, youtube = str(tmp_path / "wild"), write_youtube68(str(tmp_path / "yt68"), people=4)
    write_pts_folder(wild, photos=8)
    cfg = tiny_config(wild, extra_data=youtube, conventions="heads", val_fraction=0.25)
    samples = load_keypoints68(cfg)
    assert samples.keypoints.shape[1:] == (136, 2)
    n_wild = 16
    assert samples.mask[:n_wild, :68].all() and not samples.mask[:n_wild, 68:].any()
    assert samples.mask[n_wild:, 68:].all() and not samples.mask[n_wild:, :68].any()
    assert KEYPOINTS68.flip_perm(cfg)[68 + 36] == 68 + 45
    run = tmp_path / "run"
    flags = ["--data", wild, "--extra-data", youtube, "--conventions", "heads", "--input-size", 32, "--width", 8]
    flags += ["--batch-size", 8, "--eval-every", 3, "--ckpt-every", 3, "--val-fraction", 0.25]
    code, out, err = run_script("train", [*flags, "--run", run, "--steps", 3], capsys)
    assert code == 0, err
    with open(run / "config.json") as f:
        saved = json.load(f)
    assert saved["conventions"] == "heads" and saved["convention"] == "300w"
    code, out, err = run_script("train", [*flags, "--run", run, "--steps", 6], capsys)
    assert code == 0 and "resuming" in out and "from step 3" in out
    assert [r["step"] for r in read_jsonl(run / "metrics.jsonl") if r["split"] == "val"] == [3, 6]


def test_predictor_gives_each_conventions_head(tmp_path):
    from facekp import models
    from facekp.inference import Predictor

    for conventions in ("heads", "offset"):
        cfg = KeypointConfig(input_size=32, width=8, conventions=conventions, convention="300w")
        model = models.build(cfg)
        assert model.output.shape[1:] == (136, 2)
        crops = np.random.default_rng(0).uniform(size=(2, 32, 32, 1)).astype(np.float32)
        both = model(crops).numpy()
        first = Predictor(cfg, model, engine="tf").predict(crops)
        youtube = Predictor(cfg, model, engine="tf", convention="youtube").predict(crops)
        np.testing.assert_allclose(first, both[:, :68], atol=1e-4)
        np.testing.assert_allclose(youtube, both[:, 68:], atol=1e-4)
    with pytest.raises(InputError, match="follow youtube, not 300w"):
        Predictor(
            KeypointConfig(input_size=32, width=8),
            models.build(KeypointConfig(input_size=32, width=8)),
            engine="tf",
            convention="300w",
        )


def test_hold_out_extra_leaves_out_each_sources_own_validation_people(tmp_path):
    wild, youtube = str(tmp_path / "wild"), write_youtube68(str(tmp_path / "yt68"), people=8)
    write_pts_folder(wild, photos=8)
    cfg = tiny_config(wild, extra_data=youtube, val_fraction=0.25)
    youtube_alone = KEYPOINTS68.split(tiny_config(youtube, val_fraction=0.25), load_keypoints68(tiny_config(youtube)))
    held_out = set(youtube_alone[1].groups)  # what benchmarks measure on, as --data
    for hold_out, expected in ((False, set()), (True, held_out)):
        cfg = tiny_config(wild, extra_data=youtube, val_fraction=0.25, hold_out_extra=hold_out)
        train, val = KEYPOINTS68.split(cfg, load_keypoints68(cfg))
        youtube_people = {g for g in train.groups if g.startswith("Person_")}
        assert youtube_people == {f"Person_{p:02d}" for p in range(8)} - expected
        assert all(not g.startswith("Person_") for g in val.groups)
