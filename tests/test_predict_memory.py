"""predict.py on large photos: decoded once as uint8, faces found on a downscaled copy with the
same boxes as on a small photo, a thumbnail plotted, oversized files refused unread, bad flags
and bad files one line each (peak memory itself: benchmarks/predict_memory.py)."""

import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from facekp import photos
from facekp.config import SHIPPED_KEYPOINTS
from facekp.errors import InputError
from facekp.inference import Predictor
from tests.conftest import run_script

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE = os.path.join(REPO, "data", "samples", "obamas.jpg")


@pytest.fixture(scope="module")
def shipped():
    return Predictor.shipped()


def _faces(predictor, path):
    faces, rgb = photos.faces_in(str(path), predictor, find_all=True)
    return sorted(faces, key=lambda face: face[0][0]), rgb


def test_a_large_photo_gives_the_faces_of_its_detection_copy_scaled(shipped, tmp_path):
    """Faces are found on a copy of at most DETECT_MAX_SIDE pixels: the large photo's faces are
    that copy's faces, mapped back, with keypoints from full-resolution crops."""
    large = cv2.resize(cv2.imread(SAMPLE), None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)
    cv2.imwrite(str(tmp_path / "large.png"), large)
    copy, (fx, _) = photos.shrunk(large, photos.DETECT_MAX_SIDE)
    assert fx < 1
    cv2.imwrite(str(tmp_path / "copy.png"), copy)
    faces_copy, _ = _faces(shipped, tmp_path / "copy.png")
    faces_large, rgb = _faces(shipped, tmp_path / "large.png")
    assert rgb.dtype == np.uint8 and rgb.shape == large.shape
    assert len(faces_copy) == len(faces_large) >= 2
    for (box_copy, _, points_copy), (box_large, _, points_large) in zip(faces_copy, faces_large):
        np.testing.assert_allclose(np.array(box_large) * fx, box_copy, atol=1.0)
        side = np.ptp(points_copy, axis=0).max()
        assert np.abs((points_large + 0.5) * fx - 0.5 - points_copy).mean() < 0.05 * side


def test_the_plot_of_a_large_photo_is_drawn_from_a_thumbnail(shipped, tmp_path):
    small = cv2.imread(SAMPLE)
    cv2.imwrite(str(tmp_path / "large.jpg"), cv2.resize(small, None, fx=4, fy=4), [cv2.IMWRITE_JPEG_QUALITY, 90])
    _, plot_path, read = photos.predict_files([str(tmp_path / "large.jpg")], shipped, str(tmp_path), True)
    assert read == 1 and os.path.getsize(plot_path) < 2_000_000
    plot = cv2.imread(plot_path)
    assert max(plot.shape[:2]) <= 1300  # a row: the photo and its faces panel, not the photo's pixels


def test_a_photo_over_the_pixel_limit_is_refused_from_its_header(tmp_path, monkeypatch):
    cv2.imwrite(str(tmp_path / "big.png"), np.zeros((300, 400, 3), np.uint8))
    monkeypatch.setattr(photos, "MAX_PIXELS", 100_000)
    with pytest.raises(InputError, match=r"big.png: image too large \(400 x 300\)"):
        photos.read_image(str(tmp_path / "big.png"))


def _predict_cli(*args):
    return subprocess.run([sys.executable, os.path.join(REPO, "predict.py"), *args], capture_output=True, text=True)


@pytest.mark.slow
def test_bad_flags_and_a_damaged_file_are_one_line_each_with_no_opencv_noise(tmp_path, capsys):
    for flag, value, limits in [("--refine", "-1", "from 0 to 8"), ("--threads", "100000", "from 1 to 256")]:
        code, _, err = run_script("predict", [flag, value, SAMPLE], capsys)
        assert code == 2 and err.splitlines() == [f"error: {flag}: must be {limits}, got {value}"]
    with open(SAMPLE, "rb") as f:
        head = f.read(600)
    (tmp_path / "cut.jpg").write_bytes(head)  # a JPEG header and nothing after it
    # a real process: OpenCV's own warnings go to its stderr (fd 2), and must not
    done = _predict_cli("--run", SHIPPED_KEYPOINTS, "--out", str(tmp_path), str(tmp_path / "cut.jpg"), SAMPLE)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{tmp_path / 'cut.jpg'}: unreadable image"), lines
