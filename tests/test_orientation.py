"""Photos stored turned with an EXIF orientation (what phones write for a portrait shot) are read as
viewers show them, wherever an image file is decoded: predict.py and the API (photos.read_image),
galleries and recognition folders (identities.read_image), training crops (the tf.data decode),
their sizes (the .pts / XML / CSV checks) and the tfds builders; points come out in the upright
image's pixels."""

import csv
import os

import numpy as np
import pytest
from PIL import Image, ImageOps

import facekp
from facekp import api, photos
from facekp.data import identities, images, landmark_files
from tests.conftest import run_script, synthetic_face

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OBAMAS = os.path.join(REPO, "data", "samples", "obamas.jpg")

T = Image.Transpose
# What a camera stores for an upright picture under each EXIF orientation (a viewer undoes it).
STORED = {1: None, 2: T.FLIP_LEFT_RIGHT, 3: T.ROTATE_180, 4: T.FLIP_TOP_BOTTOM, 5: T.TRANSPOSE, 6: T.ROTATE_90}
STORED |= {7: T.TRANSVERSE, 8: T.ROTATE_270}


def save_turned(upright: Image.Image, orientation: int, path, fmt: str = "JPEG") -> None:
    """`upright` stored as a camera stores it under `orientation`, with that EXIF tag."""
    stored = upright if STORED[orientation] is None else upright.transpose(STORED[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    stored.save(path, fmt, quality=95, exif=exif.tobytes())
    with Image.open(path) as check:  # as viewers (PIL) show it: the upright picture
        shown = ImageOps.exif_transpose(check)
        assert shown.size == upright.size and check.getexif()[0x0112] == orientation


def smooth_picture(w: int = 72, h: int = 48) -> np.ndarray:
    """(h, w, 3) uint8, no symmetry: a gradient, a bright corner block and a coloured band."""
    ys, xs = np.mgrid[:h, :w]
    rgb = np.stack([xs * 255 // w, ys * 255 // h, (xs + ys) * 127 // (w + h)], -1).astype(np.uint8)
    rgb[: h // 3, : w // 3] = 250
    rgb[h // 2 :, -w // 4 :, 2] = 30
    return np.asarray(Image.fromarray(rgb).resize((w * 2, h * 2)).resize((w, h), Image.BILINEAR))


def assert_near(decoded: np.ndarray, expected: np.ndarray, tolerance: float = 3.0) -> None:
    assert decoded.shape == expected.shape
    error = float(np.abs(decoded.astype(np.float32) - expected).mean())
    assert error < tolerance, f"mean error {error:.1f} of 255"  # JPEG's own error only


@pytest.mark.parametrize("orientation,fmt", [(o, "JPEG") for o in range(1, 9)] + [(6, "PNG"), (8, "PNG")])
def test_every_exif_orientation_is_decoded_upright_everywhere(tmp_path, orientation, fmt):
    upright = smooth_picture()
    h, w = upright.shape[:2]
    path = str(tmp_path / f"turned.{fmt.lower()}")
    save_turned(Image.fromarray(upright), orientation, path, fmt)
    reference = str(tmp_path / f"upright.{fmt.lower()}")
    Image.fromarray(upright).save(reference, fmt, quality=95)

    assert_near(photos.read_image(path), upright)  # predict.py, label.py, galleries
    assert_near(api.as_rgb(path), upright)
    with Image.open(path) as opened:  # a PIL image opened by the caller
        assert_near(api.as_rgb(opened), upright)
    assert_near(identities.read_image(path, 3), upright)  # recognition folders, Recogniser
    assert identities.read_image(path, 1).shape == (h, w, 1)
    assert images.image_sizes([path]).tolist() == [[w, h]]  # what the .pts / XML / CSV checks use
    square = ([[w / 2 - 0.5, h / 2 - 0.5]], [float(max(w, h))], 40)
    crops, sizes = images.decode_crops([path], *square, 3)  # training's tf.data decode
    expected, _ = images.decode_crops([reference], *square, 3)
    assert sizes.tolist() == [[w, h]]
    assert_near(crops, expected)


def test_a_pts_folder_with_a_photo_stored_sideways_trains_on_the_upright_photo(tmp_path):
    """300-W's points are in the upright photo's pixels: a photo stored turned (orientation 6) is
    checked against its upright size and cropped upright, like the same photo stored upright."""
    face, points = synthetic_face(np.random.default_rng(4), size=100)
    canvas = Image.new("RGB", (220, 100), (20, 20, 20))
    canvas.paste(face, (120, 0))  # the face on the right of a landscape photo
    points = points + [120, 0]
    for name, orientation in (("turned", 6), ("upright", 1)):
        folder = tmp_path / name
        folder.mkdir()
        save_turned(canvas, orientation, folder / "photo.jpg")
        landmark_files.write_pts(str(folder / "photo.pts"), points)
    # the stored photo is 100 wide: x = 215 lay past its edge, which refused the file
    turned, upright = (landmark_files.load(str(tmp_path / name)) for name in ("turned", "upright"))
    np.testing.assert_array_equal(turned.keypoints, upright.keypoints)
    center = points.mean(0, keepdims=True)
    crops = [images.decode_crops(ann.paths, center, [110.0], 48, 3) for ann in (turned, upright)]
    assert crops[0][1].tolist() == crops[1][1].tolist() == [[220, 100]]
    assert_near(crops[0][0], crops[1][0])


def test_the_tfds_builder_stores_a_turned_frame_upright(tmp_path):
    pytest.importorskip("tensorflow_datasets")
    from facekp.data import youtube68
    from tests.conftest import write_youtube68
    from tests.test_tfds import load

    folder = write_youtube68(str(tmp_path / "yt"), people=1, per_person=2)
    path = youtube68.load(folder).paths[0]
    upright = np.asarray(Image.open(path).convert("RGB"))
    save_turned(Image.fromarray(upright), 6, path)
    examples = load("facekp_youtube68", folder, tmp_path / "tfds")
    frames = {e["file_name"].decode(): e["image"] for e in examples}
    assert_near(frames[os.path.basename(path)], upright, tolerance=4.0)


def test_a_phone_photo_stored_sideways_gives_its_faces_in_upright_pixels(tmp_path, capsys):
    """obamas.jpg stored as a phone stores a portrait shot (turned, orientation 6): both faces are
    found, by the API and by predict.py --detect, at the upright photo's points."""
    path = str(tmp_path / "phone.jpg")
    save_turned(Image.open(OBAMAS), 6, path)
    expected = sorted(facekp.face_landmarks(OBAMAS), key=lambda face: face.box[0])
    found = sorted(facekp.face_landmarks(path), key=lambda face: face.box[0])
    assert len(found) == len(expected) == 2
    for face, truth in zip(found, expected):
        np.testing.assert_allclose(face.box, truth.box, atol=4.0)
        assert np.abs(face.points - truth.points).mean() < 2.0
    code, out, err = run_script("predict", ["--detect", "--out", tmp_path / "out", path], capsys)
    assert code == 0 and "no face found" not in err, err
    (written,) = (tmp_path / "out").glob("prediction-*.csv")
    with open(written) as f:
        rows = sorted(list(csv.reader(f))[1:], key=lambda row: float(row[2]))
    assert len(rows) == 2
    for row, truth in zip(rows, expected):
        np.testing.assert_allclose([float(v) for v in row[2:6]], truth.box, atol=4.0)
        points = np.array([float(v) for v in row[7:]]).reshape(68, 2)
        assert np.abs(points - truth.points).mean() < 2.0
