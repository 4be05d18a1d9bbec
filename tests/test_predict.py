"""predict.py end to end on generated images; crop-to-photo coordinate mapping; slim export."""

import csv
import dataclasses
import json
import os
import re
import subprocess
import sys
import types

import cv2
import numpy as np
import pytest
from PIL import Image

from facekp import config, export, overlay as overlays, photos
from facekp.data import images as image_ops
from facekp.data.geometry import face_boxes
from facekp.errors import InputError
from facekp.inference import Predictor, mirror_calibration, mirrored_pass_error
from tests.conftest import assert_each_message_is_a_line, run_script, synthetic_face

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def tiny_run(trained_run):
    """The session's tiny trained run (read only)."""
    return trained_run[1]


def test_crop_maps_back_to_the_photo_under_a_known_box():
    image = np.zeros((120, 160, 1), np.float32)
    image[70, 100] = 255.0  # a dot at x=100, y=70
    crop, (A, t) = image_ops.crop_with_map(image, np.array([90.0, 60.0]), 80.0, 40)  # shrinks 2x
    y, x = np.unravel_index(np.argmax(crop.numpy()[..., 0]), (40, 40))
    back = A[0].numpy() @ np.array([x, y], np.float32) + t[0].numpy()
    assert np.abs(back - [100, 70]).max() <= 1.0  # one crop pixel is two photo pixels
    # exact for the map itself: crop centre <-> box centre, crop edge <-> box edge
    np.testing.assert_allclose(A[0].numpy() @ np.array([19.5, 19.5]) + t[0].numpy(), [90.0, 60.0], atol=1e-4)
    np.testing.assert_allclose(A[0].numpy() @ np.array([-0.5, -0.5]) + t[0].numpy(), [50.0, 20.0], atol=1e-4)


def test_fast_opencv_crop_matches_the_tf_crop():
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 255, (120, 160, 1)).astype(np.float32)
    image = cv2.GaussianBlur(image, (0, 0), 3)[..., None]  # smooth: the two shrink filters differ at sharp edges
    for center, side, out in [((90.0, 60.0), 80.0, 40), ((50.0, 70.0), 30.0, 40), ((10.0, 10.0), 100.0, 96)]:
        slow, (A1, t1) = image_ops.crop_with_map(image, np.array(center), side, out)
        fast, (A2, t2) = image_ops.crop_with_map_fast(image, np.array(center), side, out)
        np.testing.assert_allclose(A2, A1.numpy(), atol=1e-5)
        np.testing.assert_allclose(t2, t1.numpy(), atol=1e-3)
        assert fast.shape == (out, out, 1) and np.abs(fast - slow.numpy()).mean() < 1.0


def test_the_window_a_crop_reads_covers_its_corners_and_survives_non_finite_maps():
    rng = np.random.default_rng(5)
    maps = [np.concatenate([rng.normal(0, 2, (2, 2)), rng.uniform(-50, 250, (2, 1))], axis=1) for _ in range(50)]
    maps += [np.array([[np.nan, 0, 10], [0, 1, 10]]), np.array([[1, 0, np.inf], [0, 1, -np.inf]])]
    corners = np.array([[-0.5, -0.5, 1], [31.5, -0.5, 1], [-0.5, 23.5, 1], [31.5, 23.5, 1]])
    for to_source in maps:
        xy = np.nan_to_num(corners @ to_source.T)  # where the output's corners read, NaN as 0
        lo, hi = np.floor(xy.min(0)) - 2, np.ceil(xy.max(0)) + 3
        x0, y0 = int(np.clip(lo[0], 0, 199)), int(np.clip(lo[1], 0, 149))
        expected = (x0, y0, int(np.clip(hi[0], x0 + 1, 200)), int(np.clip(hi[1], y0 + 1, 150)))
        assert image_ops._window(to_source, 32, 24, (150, 200, 1), pad=2) == expected


@pytest.mark.parametrize("side", [30.0, 150.0])  # the crop at full resolution, and from a shrunk window
def test_a_turned_crop_shows_a_spot_where_its_map_says(side):
    image = np.zeros((200, 240, 1), np.float32)
    image[118:123, 148:153] = 255.0  # a spot centred on (150, 120)
    crop, (A, t) = image_ops.crop_with_map_fast(image, np.array([140.0, 112.0]), side, 32, angle=0.6)
    ys, xs = np.mgrid[:32, :32]
    weight = crop[..., 0] / crop.sum()
    spot = np.array([(xs * weight).sum(), (ys * weight).sum()])  # the spot's centre in the crop
    np.testing.assert_allclose(spot @ A[0].T + t[0], (150.0, 120.0), atol=0.1 * side / 32 + 0.1)


@pytest.mark.slow
def test_predict_py_writes_csv_and_plot_and_skips_bad_files(tiny_run, tmp_path):
    folder = tmp_path / "faces"
    (folder / "sub").mkdir(parents=True)
    rng = np.random.default_rng(3)
    for i, name in enumerate(["a.jpg", "sub/b.png", "c.jpg"]):
        synthetic_face(rng, size=90 + 10 * i)[0].save(folder / name)
    (folder / "broken.jpg").write_bytes(b"not an image")
    (folder / "notes.txt").write_text("ignored: not an image extension")
    os.mkfifo(folder / "pipe.jpg")  # reading it would block forever
    with open(os.fsencode(folder) + b"/caf\xe9.jpg", "wb") as f:  # a file name that is not UTF-8
        f.write((folder / "c.jpg").read_bytes())
    done = subprocess.run(
        [sys.executable, os.path.join(REPO, "predict.py"), "--run", tiny_run, str(folder)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "broken.jpg: unreadable image" in done.stderr and "4 of 5 files read" in done.stdout
    assert "pipe.jpg: not a regular file, skipped" in done.stderr
    without_bar = re.sub(r"predict: .*?img/s\]", "", done.stderr)
    lines = [line for line in without_bar.splitlines() if line.strip()]
    assert len(lines) == 2, lines  # the runtime's own notices are muted
    csvs = sorted(folder.glob("prediction-*.csv"))
    assert len(csvs) == 1 and len(list(folder.glob("plot-*.png"))) == 1
    with open(csvs[0]) as f:
        rows = list(csv.reader(f))
    header = rows[0]
    assert header[:7] == ["file", "face", "box_x", "box_y", "box_w", "box_h", "score"]
    assert header[7:9] == ["x0", "y0"] and header[-1] == "y67" and len(header) == 7 + 136
    assert len(rows) == 5 and all(len(r) == len(header) for r in rows)
    assert any(r[0].endswith("caf\\udce9.jpg") for r in rows)  # named as stderr would name it
    a = next(r for r in rows[1:] if r[0].endswith("a.jpg"))
    assert a[1:6] == ["0", "0.0", "0.0", "90.0", "90.0"]  # a crop: the box is the whole image


def test_predict_detects_faces_in_a_photo(tiny_run, tmp_path):
    """Two drawn faces are rarely Haar faces: whatever is found, the run completes and writes both
    files; a photo with no face is reported by name."""
    Image.new("RGB", (200, 150), (40, 40, 40)).save(tmp_path / "empty.jpg")
    predictor = Predictor.from_run(tiny_run)
    csv_path, plot_path, read = photos.predict_files([str(tmp_path / "empty.jpg")], predictor, str(tmp_path), True)
    assert read == 1 and os.path.exists(csv_path) and os.path.exists(plot_path)
    assert open(csv_path).read().count("\n") == 1  # header only: no face


def test_predict_py_exit_2_when_nothing_readable(tiny_run, tmp_path, capsys):
    (tmp_path / "x.jpg").write_bytes(b"")
    code, _, err = run_script("predict", ["--run", tiny_run, tmp_path / "x.jpg", tmp_path / "missing.jpg"], capsys)
    assert code == 2 and "none of the 1 files could be read" in err
    assert "missing.jpg: no such file" in err
    assert not list(tmp_path.glob("prediction-*"))


def test_tflite_and_tf_engines_agree_and_faces_batch_like_one_by_one(tiny_run):
    fast, plain = Predictor.from_run(tiny_run), Predictor.from_run(tiny_run, engine="tf")
    assert fast.engine == "tflite" and plain.engine == "tf"
    images = np.random.default_rng(1).random((5, 32, 32, 1), np.float32)
    np.testing.assert_allclose(fast.predict(images, batch_size=2), plain.predict(images), atol=1e-3)
    assert fast.predict(images[:0]).shape == plain.predict(images[:0]).shape == (0, 68, 2)
    photo = np.random.default_rng(2).random((120, 160, 1), np.float32) * 255
    boxes = [(50, 60, 40), (110, 50, 30), (80, 90, 60)]
    together = fast.predict_faces(photo, boxes, refine=1)
    apart = np.concatenate([fast.predict_faces(photo, [box], refine=1) for box in boxes])
    assert together.shape == (3, 68, 2)
    np.testing.assert_allclose(together, apart, atol=1e-4)
    assert fast.predict_faces(photo, [], refine=1).shape == (0, 68, 2)


def test_refinement_passes_crop_at_the_refine_margin_and_give_the_mean_of_all_passes(tiny_run):
    trained = Predictor.from_run(tiny_run)
    photo = np.random.default_rng(4).random((120, 160, 1), np.float32) * 255

    def passes(margins):
        """Each pass alone (refine=0, at its margin), from the box of the pass before."""
        box, found = np.array([[70.0, 60.0, 50.0]], np.float32), []
        for margin in margins:
            found.append(
                Predictor(dataclasses.replace(trained.cfg, margin=margin), trained.model).predict_faces(photo, box, 0)
            )
            center, side = face_boxes(found[-1])
            box = np.concatenate([center, side[:, None]], axis=1)
        return found

    box, margin = [(70.0, 60.0, 50.0)], trained.cfg.margin
    tight = Predictor(dataclasses.replace(trained.cfg, refine_margin=0.8 * margin), trained.model)
    np.testing.assert_allclose(
        tight.predict_faces(photo, box, refine=2),
        np.mean(passes([margin, 0.8 * margin, 0.8 * margin]), axis=0),
        atol=1e-4,
    )
    same = passes([margin] * 3)  # refine_margin 0: every pass at the margin
    np.testing.assert_allclose(trained.predict_faces(photo, box, refine=2), np.mean(same, axis=0), atol=1e-4)
    # as recognition's faces were cut: every pass at the margin, the last pass's points
    np.testing.assert_allclose(tight.predict_each([photo], box, refine=2, plain_refinement=True), same[2], atol=1e-4)
    assert np.abs(same[2] - same[0]).max() > 0.1  # the passes differ: the mean is not any one of them


def test_a_calibrated_model_runs_every_other_refinement_pass_mirrored_and_moved_by_its_offsets(tiny_run):
    trained = Predictor.from_run(tiny_run)
    offsets = np.random.default_rng(6).normal(0, 1, (68, 2))
    measured_with = mirror_calibration(trained.cfg, trained.model)
    cfg = dataclasses.replace(trained.cfg, mirror_offsets=tuple(offsets.ravel()), mirror_calibrated_for=measured_with)
    calibrated = Predictor(cfg, trained.model)
    photo = np.random.default_rng(7).random((120, 160, 1), np.float32) * 255
    box, found = np.array([70.0, 60.0, 50.0]), []
    for k in range(3):  # plain, mirrored, plain: each from the box of the pass before
        crop, (A, t) = image_ops.crop_with_map_fast(photo, box[:2], box[2] * cfg.margin, cfg.input_size)
        points = trained.predict(crop[None] / 255.0)[0]
        if k == 1:
            mirrored = trained.predict(crop[None, :, ::-1] / 255.0)[0][list(trained.scheme.flip_perm)]
            points = np.stack([cfg.input_size - 1 - mirrored[:, 0], mirrored[:, 1]], axis=1) + offsets
        found.append(points @ A[0].T + t[0])
        center, side = face_boxes(found[-1][None])
        box = np.array([*center[0], side[0]])
    start = [(70.0, 60.0, 50.0)]
    np.testing.assert_allclose(calibrated.predict_faces(photo, start, refine=2)[0], np.mean(found, axis=0), atol=1e-3)
    plain = trained.predict_each([photo], start, refine=2, plain_refinement=True)
    np.testing.assert_allclose(calibrated.predict_each([photo], start, refine=2, plain_refinement=True), plain)
    with pytest.raises(InputError, match="mirror_offsets: 4 values, expected 136"):
        Predictor(dataclasses.replace(cfg, mirror_offsets=(1.0, 2.0, 3.0, 4.0)), trained.model)


def test_offsets_measured_by_calibration_move_the_mirrored_pass_onto_the_truth(tiny_run):
    """calibrate_mirror's sign convention: the mean of mirrored_pass_error over faces is what
    Predictor adds back, so a face's own error puts its mirrored pass exactly on its truth."""
    trained = Predictor.from_run(tiny_run)
    photo = np.random.default_rng(8).random((120, 160, 1), np.float32) * 255
    start, truth = np.array([[70.0, 60.0, 50.0]]), np.random.default_rng(9).uniform(40, 100, (68, 2))
    error = mirrored_pass_error(trained, photo, start, truth)
    cfg = dataclasses.replace(
        trained.cfg,
        mirror_offsets=tuple(error.ravel()),
        mirror_calibrated_for=mirror_calibration(trained.cfg, trained.model),
    )
    first_pass = trained.predict_faces(photo, start, refine=0)[0]
    both = Predictor(cfg, trained.model).predict_faces(photo, start, refine=1)[0]  # the mean of the two passes
    np.testing.assert_allclose(2 * both - first_pass, truth, atol=1e-2)


def test_mirror_offsets_measured_for_other_weights_or_crops_are_not_used_and_said_so(tiny_run, tmp_path, capsys):
    trained = Predictor.from_run(tiny_run)
    offsets = tuple(np.ones(136))
    for changed in (
        {"refine_margin": 1.1},
        {"mirror_calibrated_for": "weights 0123456789abcdef, refine margin 1.2, 96 px"},
    ):
        cfg = dataclasses.replace(
            trained.cfg, mirror_offsets=offsets, mirror_calibrated_for=mirror_calibration(trained.cfg, trained.model)
        )
        stale = Predictor(dataclasses.replace(cfg, **changed), trained.model)
        assert stale.mirror_offsets is None and "the mirrored refinement pass is off" in capsys.readouterr().err
    with open(os.path.join(tiny_run, "config.json")) as f:
        saved = json.load(f)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text(json.dumps({**saved, "mirror_offsets": [float("nan")] * 136}))
    with pytest.raises(InputError, match='config.json: "mirror_offsets": must be a list of finite numbers'):
        config.load(str(tmp_path / "run"))


def test_slim_export_predicts_like_the_run(tiny_run, tmp_path):
    predictor = Predictor.from_run(tiny_run)
    folder = export.export_slim(predictor.model, str(tmp_path / "slim"), tiny_run)
    assert sorted(os.listdir(folder)) == ["best", "config.json"]
    images = np.random.default_rng(0).random((2, 32, 32, 1), np.float32)
    np.testing.assert_allclose(Predictor.from_run(folder).predict(images), predictor.predict(images), atol=1e-5)
    size = sum(os.path.getsize(os.path.join(folder, "best", f)) for f in os.listdir(os.path.join(folder, "best")))
    assert size < 0.5 * sum(
        os.path.getsize(os.path.join(tiny_run, "best", f)) for f in os.listdir(os.path.join(tiny_run, "best"))
    )
    with open(os.path.join(folder, "README.md"), "w") as f:
        f.write("how it was trained")
    export.export_slim(predictor.model, folder, tiny_run)  # exported again over itself: its README stays
    assert sorted(os.listdir(folder)) == ["README.md", "best", "config.json"]


def test_overlay_is_centred_between_the_eyes_and_turned_with_them():
    from facekp import overlay
    from tests.conftest import template68

    angle = np.radians(20)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    points = template68() @ rot.T * 100 + [100, 90]
    center, width, turn = overlay.placement(points, "sunglasses")
    eyes = (points[36:42].mean(0) + points[42:48].mean(0)) / 2
    np.testing.assert_allclose(center, eyes, atol=1e-4)
    assert turn == pytest.approx(angle, abs=1e-4) and width == pytest.approx(100.0, rel=1e-3)
    red = np.zeros((10, 40, 4), np.float32)
    red[..., 0] = red[..., 3] = 1.0  # an opaque red bar 4:1
    out = overlay.apply_overlay(np.zeros((200, 200, 3), np.uint8), red, center, width, turn)
    ys, xs = np.nonzero(out[..., 0] > 128)
    np.testing.assert_allclose([xs.mean(), ys.mean()], center, atol=1.0)
    # the bar's long axis follows the eye line: fit its direction
    direction = np.linalg.svd(np.stack([xs - xs.mean(), ys - ys.mean()]), full_matrices=False)[0][:, 0]
    assert abs(abs(np.arctan2(direction[1], direction[0])) - angle) < np.radians(2) or abs(
        abs(np.arctan2(-direction[1], -direction[0])) - angle
    ) < np.radians(2)
    assert (xs.max() - xs.min()) == pytest.approx(width * np.cos(angle) + 25 * np.sin(angle) / 2, rel=0.15)


def test_predict_py_overlay_and_feature_maps(tiny_run, tmp_path, capsys):
    synthetic_face(np.random.default_rng(5), size=100)[0].save(tmp_path / "face.jpg")
    args = ["--run", tiny_run, "--overlay", "moustache", "--feature-maps", tmp_path / "face.jpg"]
    code, _, err = run_script("predict", args, capsys)
    assert code == 0, err
    assert len(list(tmp_path.glob("overlay-*-face.png"))) == 1 and len(list(tmp_path.glob("features-*-face.png"))) == 1
    code, _, err = run_script(
        "predict", ["--run", tiny_run, "--overlay", tmp_path / "nope.png", tmp_path / "face.jpg"], capsys
    )
    assert code == 2 and "nope.png: overlay image not found" in err


def test_shipped_model_loads_and_predicts_inside_the_crop():
    predictor = Predictor.shipped()
    assert predictor.cfg.task == "keypoints68" and predictor.scheme.num_points == 68
    size = predictor.cfg.input_size
    image, _ = synthetic_face(np.random.default_rng(1), size=size)
    points = predictor.predict(np.asarray(image.convert("L"), np.float32)[None, ..., None] / 255.0)
    assert points.shape == (1, 68, 2) and np.all((points > -size) & (points < 2 * size))
    weights = sum(
        os.path.getsize(os.path.join(root, f))
        for root, _, files in os.walk(os.path.join(REPO, "facekp", "shipped", "keypoints68"))
        for f in files
    )
    assert weights < 10 * 2**20  # the shipped model stays small


def test_a_box_of_points_collapsed_onto_one_spot_still_gives_a_crop():
    """An untrained model can put every point on one pixel: the next pass's box has side 0."""
    image = np.full((40, 50, 1), 7.0, np.float32)
    crop, (A, t) = image_ops.crop_with_map_fast(image, np.array([20.0, 10.0]), 0.0, 16)
    assert crop.shape[:2] == (16, 16) and np.all(crop == 7.0) and np.all(np.isfinite(A)) and np.all(np.isfinite(t))


def test_the_predictions_csv_quotes_names_with_commas_quotes_or_line_breaks():
    points = np.arange(136, dtype=np.float32).reshape(68, 2)
    rows = [
        ("photos/a,b.jpg", 0, (1.0, 2.0, 3.0, 4.0), 0.5, points),
        ('say "hi".jpg', 1, (1.0, 2.0, 3.0, 4.0), 0.5, points),
    ]
    text = photos.csv_text(rows, 68, [("Obama, Barack", 0.1), ("Mich\nelle", 0.2)])
    parsed = list(csv.reader(text.splitlines(keepends=True)))
    assert [len(row) for row in parsed] == [145, 145, 145]
    assert [row[0] for row in parsed[1:]] == ["photos/a,b.jpg", 'say "hi".jpg']
    assert [row[-2] for row in parsed[1:]] == ["Obama, Barack", "Mich\nelle"]
    assert text.startswith("file,face,box_x,") and parsed[1][2:7] == ["1.0", "2.0", "3.0", "4.0", "0.500"]


def test_in_a_log_each_message_about_a_file_is_a_line_of_its_own(tiny_run, tmp_path, capsys):
    """stderr that is not a terminal (a log, a pipe, capsys here) got the progress bar, and each
    `no face found` or `unreadable image` glued onto one of its redraws."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(5):
        Image.new("RGB", (120 + 10 * i, 90), (30 + 20 * i, 40, 40)).save(folder / f"plain{i}.jpg")  # no face
    (folder / "broken.jpg").write_bytes(b"not an image")
    code, _, err = run_script("predict", ["--run", tiny_run, "--detect", "--detector", "haar", folder], capsys)
    assert code == 0, err
    message = re.compile(r"\S+/(plain\d\.jpg: no face found|broken\.jpg: unreadable image \(.*\), skipped)")
    assert_each_message_is_a_line(err, message, 6)


def test_two_runs_of_one_second_on_one_out_keep_both_files(tiny_run, tmp_path, monkeypatch):
    """Both named prediction-<the same timestamp>.csv, one replaced the other: the second run's
    files (CSV, plot, overlays) share the stem <timestamp>-2, the third's -3, also when a run
    starts before another of the same second ends and ends after it."""
    monkeypatch.setattr(photos, "time", types.SimpleNamespace(strftime=lambda _: "20250101-120000"))  # the clock
    rng = np.random.default_rng(6)
    faces = []
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        synthetic_face(rng, size=96)[0].save(tmp_path / name)
        faces.append(str(tmp_path / name))
    out = tmp_path / "out"
    predictor = Predictor.from_run(tiny_run)
    overlay = ("moustache", overlays.load_overlay("moustache"))

    def run(*paths):
        return photos.predict_files(list(paths), predictor, str(out), False, overlay=overlay)[:2]

    (tmp_path / "sub").mkdir()
    synthetic_face(rng, size=96)[0].save(tmp_path / "sub" / "a.jpg")
    first = run(faces[0], str(tmp_path / "sub" / "a.jpg"))  # one overlay-<stem>-a.png: sub/a.jpg's
    read_image, written = photos.read_image, {}

    def a_run_of_c_meanwhile(path):  # run b reads its photo; a run of c starts and ends meanwhile
        if path == faces[1] and "c" not in written:
            written["c"] = run(faces[2])
        return read_image(path)

    monkeypatch.setattr(photos, "read_image", a_run_of_c_meanwhile)
    second = run(faces[1])
    stems = {"a.jpg": "20250101-120000", "c.jpg": "20250101-120000-2", "b.jpg": "20250101-120000-3"}
    for (csv_path, plot_path), name in ((first, "a.jpg"), (written["c"], "c.jpg"), (second, "b.jpg")):
        assert csv_path == str(out / f"prediction-{stems[name]}.csv")
        assert plot_path == str(out / f"plot-{stems[name]}.png") and os.path.isfile(plot_path)
        with open(csv_path) as f:
            files = [str(tmp_path / name)] + ([str(tmp_path / "sub" / "a.jpg")] if name == "a.jpg" else [])
            assert [row[0] for row in list(csv.reader(f))[1:]] == files
        assert (out / f"overlay-{stems[name]}-{name[0]}.png").is_file()
    assert len(os.listdir(out)) == 9  # three files a run, nothing left of their drafts
