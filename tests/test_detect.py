"""Face detection: both detectors on a real photo, where a detection starts the keypoint search
(five-landmark similarity fit, calibrated box), the landmark cross-check, and predict.py's plot."""

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from facekp import detect, photos, plots
from facekp.data import geometry
from facekp.schemes import IBUG68, KAGGLE15

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE = os.path.join(REPO, "data", "samples", "obamas.jpg")


def turned(points, scale, degrees, shift):
    a = np.radians(degrees)
    rotation = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return scale * points @ rotation.T + shift


def test_similarity_fit_recovers_a_known_similarity():
    source = np.random.default_rng(0).normal(size=(5, 2))
    scale, rotation, shift = geometry.similarity_fit(source, turned(source, 3.5, 17.0, (40.0, -7.0)))
    np.testing.assert_allclose(scale, 3.5, rtol=1e-9)
    np.testing.assert_allclose(np.degrees(np.arctan2(rotation[1, 0], rotation[0, 0])), 17.0, atol=1e-9)
    np.testing.assert_allclose(shift, (40.0, -7.0), atol=1e-9)


@pytest.mark.parametrize("degrees", [0.0, 20.0])
def test_the_mean_face_placed_anywhere_gives_back_its_keypoint_box(degrees):
    """Landmarks of the mean face scaled to a 90 px keypoint box centred at (300, 200), upright or
    turned: the start box is that centre and side, whatever the turn."""
    landmarks = turned(detect.MEAN_LANDMARKS, 90.0, degrees, (300.0, 200.0))
    face = detect.Detection((0, 0, 1, 1), 0.99, landmarks, "mtcnn")
    np.testing.assert_allclose(detect.start_box(face, "landmarks"), (300.0, 200.0, 90.0), atol=1e-9)


def test_a_box_start_follows_the_detectors_calibration():
    dx, dy, side = detect.BOX_CALIBRATION["mtcnn"]
    face = detect.Detection((100.0, 50.0, 80.0, 100.0), 0.99, detect.MEAN_LANDMARKS, "mtcnn")
    expected = (140.0 + dx * 80, 100.0 + dy * 80, side * 80)
    np.testing.assert_allclose(detect.start_box(face, "box"), expected)
    haar = detect.Detection((100.0, 50.0, 80.0, 80.0), 12.0)  # no landmarks: the box, whatever the start
    assert detect.start_box(haar, "landmarks") == detect.calibrated_box(haar.box, "haar")


def test_a_detection_scales_with_its_image_keeping_pixel_centres():
    face = detect.Detection((10.0, 20.0, 30.0, 40.0), 0.9, np.array([[9.5, 19.5]] * 5), "mtcnn")
    big = face.scaled(0.5, 0.25)
    assert big.box == (20.0, 80.0, 60.0, 160.0) and big.score == 0.9 and big.detector == "mtcnn"
    np.testing.assert_allclose(big.landmarks, [[19.5, 79.5]] * 5)  # (x + 0.5) / f - 0.5


def test_five_points_of_both_schemes_are_image_left_first():
    points68 = np.zeros((68, 2))
    points68[36:42] = (10.0, 0.0)
    points68[42:48] = (30.0, 0.0)
    points68[30], points68[48], points68[54] = (20.0, 10.0), (12.0, 20.0), (28.0, 20.0)
    expected = [[10, 0], [30, 0], [20, 10], [12, 20], [28, 20]]
    np.testing.assert_allclose(IBUG68.five_points(points68), expected)
    points15 = np.zeros((15, 2))  # Kaggle's "left" is the subject's left: the image's right
    points15[0], points15[1], points15[10] = (30.0, 0.0), (10.0, 0.0), (20.0, 10.0)
    points15[11], points15[12] = (28.0, 20.0), (12.0, 20.0)
    np.testing.assert_allclose(KAGGLE15.five_points(points15[None])[0], expected)


def test_detections_the_keypoints_contradict_are_not_confirmed():
    landmarks = turned(detect.MEAN_LANDMARKS, 100.0, 0.0, (50.0, 50.0))
    face = detect.Detection((0, 0, 100, 100), 0.95, landmarks, "mtcnn")
    off = landmarks + (0.5 * detect.LANDMARK_AGREEMENT * 100.0, 0.0)
    far = landmarks + (2.0 * detect.LANDMARK_AGREEMENT * 100.0, 0.0)
    assert detect.disagreement(face, landmarks, 100.0) == 0.0
    keep = detect.confirmed([face, face, detect.Detection((0, 0, 9, 9), 3.0)], np.stack([off, far, far]), [100.0] * 3)
    assert keep.tolist() == [True, False, True]  # a detection without landmarks is not checked


@pytest.mark.parametrize("name", detect.DETECTORS)
def test_both_detectors_find_the_two_faces_of_the_sample_photo(name):
    rgb = photos.read_image(SAMPLE)
    faces = sorted(photos.detect_in(rgb, name), key=lambda f: f.box[0])
    assert len(faces) == 2
    for face, (centre_x, centre_y) in zip(faces, [(255, 170), (462, 228)]):  # the two faces' middles
        x, y, w, h = face.box
        assert abs(x + w / 2 - centre_x) < 0.2 * w and abs(y + h / 2 - centre_y) < 0.3 * h
        if name == "mtcnn":
            left_eye, right_eye, nose, mouth_left, mouth_right = face.landmarks
            assert left_eye[0] < nose[0] < right_eye[0] and mouth_left[0] < mouth_right[0]
            assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_left[1], mouth_right[1])
        else:
            assert face.landmarks is None


def faded_gray(rgb, contrast):
    """An old photograph's look: gray, its contrast squeezed to `contrast` around mid-gray."""
    gray = detect.gray_of(rgb).astype(np.float32)
    return np.repeat(np.clip(128 + contrast * (gray - 128), 0, 255).astype(np.uint8)[..., None], 3, axis=2)


def test_mtcnn_finds_the_face_its_one_pass_misses_in_a_faded_gray_photo():
    """The sample photo gray at 15% contrast: one pass finds one of the two faces (as MTCNN finds
    only the small face behind Einstein); the second look, which a gray photo always gets, finds both."""
    rgb = faded_gray(photos.read_image(SAMPLE), 0.15)
    mtcnn = detect.detector("mtcnn")
    assert detect.colourless(rgb) and len(mtcnn.faces(rgb)) == 1
    faces = sorted(mtcnn(rgb), key=lambda f: f.box[0])
    assert len(faces) == 2
    for face, (centre_x, centre_y) in zip(faces, [(255, 170), (462, 228)]):
        x, y, w, h = face.box
        assert abs(x + w / 2 - centre_x) < 0.2 * w and abs(y + h / 2 - centre_y) < 0.3 * h
        assert 120 < w < 170 and face.landmarks.shape == (5, 2)


def test_mtcnn_looks_again_at_a_photo_it_found_no_face_in_and_only_then(monkeypatch):
    """At 10% contrast one pass finds no face; the second look finds both, even when the photo
    counts as colour. A colour photo with faces costs one pass."""
    rgb = photos.read_image(SAMPLE)
    mtcnn = detect.detector("mtcnn")
    faded = faded_gray(rgb, 0.1)
    monkeypatch.setattr(detect, "colourless", lambda rgb: False)
    assert mtcnn.faces(faded) == [] and len(mtcnn(faded)) == 2
    monkeypatch.undo()
    assert not detect.colourless(rgb)
    monkeypatch.setattr(detect.Mtcnn, "second_look", lambda self, rgb: pytest.fail("a colour photo with faces"))
    assert len(mtcnn(rgb)) == 2


def test_merged_keeps_the_first_detections_and_adds_only_new_faces():
    first = detect.Detection((100.0, 100.0, 50.0, 50.0), 0.95)
    again = detect.Detection((104.0, 102.0, 50.0, 50.0), 0.99)  # the same face, seen again
    other = detect.Detection((300.0, 100.0, 40.0, 40.0), 0.97)
    assert detect.merged([first], [again, other]) == [other, first]


def test_an_unknown_detector_or_start_is_refused():
    with pytest.raises(ValueError, match="unknown detector 'dlib'"):
        detect.detector("dlib")
    with pytest.raises(ValueError, match="unknown start 'nose'"):
        detect.start_box(detect.Detection((0, 0, 9, 9), 1.0), "nose")


@pytest.mark.slow
def test_predict_py_detector_flag_choices_are_checked_before_loading_anything(tmp_path):
    done = subprocess.run(
        [sys.executable, os.path.join(REPO, "predict.py"), "--detect", "--detector", "dlib", SAMPLE],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"},  # as a user runs it
    )
    assert done.returncode == 2 and "invalid choice: 'dlib'" in done.stderr and "Traceback" not in done.stderr
    assert not any(m in done.stderr for m in ("I0000", "absl", "cuda")), done.stderr  # no TensorFlow start-up lines


def test_marker_size_grows_with_the_face_within_bounds():
    sizes = [plots.marker_size(side, 1.0) for side in (1, 100, 200, 10_000)]
    assert sizes[0] == 2.0**2 and sizes[-1] == 8.0**2 and sizes[1] < sizes[2]


def test_the_plot_of_a_photo_with_many_faces_has_a_panel_of_its_faces(tmp_path):
    """Beside a multi-face photo, each face's tile: the face cut around its points, scaled to
    plots.TILE, with the points mapped into it."""
    rgb = np.zeros((300, 400, 3), np.uint8)
    rgb[100:140, 200:240] = 255  # a white square "face"
    points = np.array([[200.0, 100.0], [239.0, 139.0], [219.5, 119.5]])
    faces = [((200, 100, 40, 40), 0.99, points), ((10, 10, 40, 40), 0.95, points - 190)]
    tiles = photos.face_tiles(rgb, faces)
    assert len(tiles) == 2 and tiles[0][0].shape == (plots.TILE, plots.TILE, 3) and tiles[0][0].dtype == np.uint8
    crop, mapped = tiles[0]
    middle = (plots.TILE - 1) / 2.0
    np.testing.assert_allclose(mapped[2], (middle, middle), atol=0.01)  # the face's centre: the tile's
    x, y = np.round(mapped[2]).astype(int)
    assert crop[y, x].min() == 255 and crop[0, 0].max() == 0  # white face in the middle, dark corner
    entry = plots.PlotEntry("photo.jpg", rgb, (400, 300), faces, [], tiles)
    plots.save_predictions_plot(str(tmp_path / "plot.png"), [entry])
    with Image.open(tmp_path / "plot.png") as image:
        assert image.size[0] > image.size[1] >= 400  # photo and panel side by side, readable
