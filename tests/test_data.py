"""Readers, decoding, the grouped split, DataSet and the step-indexed pipeline."""

import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from facekp.config import KeypointConfig
from facekp.data import images, pipeline, youtube68
from facekp.data.dataset import DataSet
from facekp.data.samples import split_by_group
from facekp.errors import InputError
from facekp.schemes import IBUG68
from facekp.tasks.keypoints import load_keypoints68


def test_reader_accepts_rgba_png_named_jpg_gray_and_rgb(yt_folder):
    ann = youtube68.load(yt_folder)
    assert len(ann.paths) == 32 and ann.keypoints.shape == (32, 68, 2)
    assert ann.groups[0] == "Person_00" and len(set(ann.groups)) == 8
    with open(ann.paths[1], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"  # the fixture really is a PNG named .jpg
    for channels in (1, 3):
        crops, sizes = images.decode_crops(ann.paths[:3], [[40, 40]] * 3, [60] * 3, 30, channels)
        np.testing.assert_array_equal(sizes, [Image.open(p).size for p in ann.paths[:3]])
        assert crops.shape == (3, 30, 30, channels) and crops.dtype == np.uint8
        assert crops.max() > 100  # real content, not an empty decode


def test_decode_matches_pil_pixels(tmp_path):
    """An RGBA PNG named .jpg decodes to its RGB pixels; gray is PIL-like luminance."""
    rgb = np.random.default_rng(1).integers(0, 256, (20, 20, 3), dtype=np.uint8)
    path = str(tmp_path / "x.jpg")
    Image.fromarray(np.dstack([rgb, np.full((20, 20), 255, np.uint8)]), "RGBA").save(path, format="PNG")
    crop = images.decode_crops([path], [[9.5, 9.5]], [20], 20, 3)[0][0]
    np.testing.assert_array_equal(crop, rgb)  # the crop that is the whole image, 1:1
    gray = images.decode_crops([path], [[9.5, 9.5]], [20], 20, 1)[0][0, ..., 0]
    expected = rgb @ np.array([0.2989, 0.587, 0.114])
    assert np.abs(gray.astype(float) - expected).max() <= 1.5


def test_crop_coordinates_follow_the_image(tmp_path):
    """A bright pixel at a known source point lands where to_crop_coords says."""
    img = np.zeros((100, 120, 3), np.uint8)
    img[30, 70] = 255
    path = str(tmp_path / "dot.png")
    Image.fromarray(img).save(path)
    center, side, size = np.array([[60.0, 50.0]]), np.array([50.0]), 50
    crop = images.decode_crops([path], center, side, size, 1)[0][0, ..., 0]
    y, x = np.unravel_index(np.argmax(crop), crop.shape)
    expected = images.to_crop_coords(np.array([[[70.0, 30.0]]]), center, side, size)[0, 0]
    assert abs(x - expected[0]) <= 0.5 and abs(y - expected[1]) <= 0.5


def test_split_is_grouped_seeded_and_complete():
    groups = [f"p{i // 5}" for i in range(200)]
    train, val = split_by_group(groups, 0.2, seed=3)
    assert not {groups[i] for i in train} & {groups[i] for i in val}
    assert sorted(np.concatenate([train, val])) == list(range(200))
    assert len({groups[i] for i in val}) == 8
    np.testing.assert_array_equal(val, split_by_group(groups, 0.2, seed=3)[1])
    assert not np.array_equal(val, split_by_group(groups, 0.2, seed=4)[1])


def test_dataset_next_batch_shuffles_each_epoch_and_counts():
    data = DataSet({"x": np.arange(10), "y": np.arange(10) * 2}, seed=1)
    first = [data.next_batch(4) for _ in range(2)]
    assert data.epochs_completed == 0 and data.index_in_epoch == 8
    third = data.next_batch(4)  # crosses the epoch boundary
    assert data.epochs_completed == 1 and data.index_in_epoch == 2
    epoch0 = np.concatenate([b["x"] for b in first] + [third["x"][:2]])
    assert sorted(epoch0) == list(range(10))
    np.testing.assert_array_equal(third["y"], third["x"] * 2)
    epoch1 = np.concatenate([third["x"][2:], data.next_batch(8)["x"]])
    assert sorted(epoch1) == list(range(10)) and not np.array_equal(epoch0, epoch1)
    resumed = DataSet({"x": np.arange(10), "y": np.arange(10) * 2}, seed=1).batches(4, start_step=2)
    np.testing.assert_array_equal(next(resumed)["x"], third["x"])


def test_batch_indices_are_permutations_per_epoch_and_stateless():
    n, b = 10, 4
    stream = np.concatenate([pipeline.batch_indices(s, b, n, tf.constant(5, tf.int64)).numpy() for s in range(5)])
    assert sorted(stream[:10]) == list(range(10)) and sorted(stream[10:20]) == list(range(10))
    assert not np.array_equal(stream[:10], stream[10:20])
    np.testing.assert_array_equal(pipeline.batch_indices(3, b, n, tf.constant(5, tf.int64)).numpy(), stream[12:16])


def test_train_dataset_is_deterministic_and_resumable(yt_folder):
    cfg = KeypointConfig(data=yt_folder, input_size=32, batch_size=4, steps=5)
    samples = load_keypoints68(cfg)
    run = list(pipeline.train_dataset(samples, cfg, IBUG68.flip_perm))
    assert len(run) == 5 and run[0]["image"].shape == (4, 32, 32, 1)
    assert 0.0 <= float(tf.reduce_min(run[0]["image"])) and float(tf.reduce_max(run[0]["image"])) <= 1.0
    resumed = list(pipeline.train_dataset(samples, cfg, IBUG68.flip_perm, start_step=3))
    assert len(resumed) == 2
    for a, b in zip(run[3:], resumed):
        np.testing.assert_array_equal(a["image"].numpy(), b["image"].numpy())
        np.testing.assert_array_equal(a["keypoints"].numpy(), b["keypoints"].numpy())


def test_center_crops_keep_the_keypoint_box_inside(yt_folder):
    cfg = KeypointConfig(data=yt_folder, input_size=48)
    arrays = pipeline.center_crops(load_keypoints68(cfg), cfg, IBUG68.flip_perm)
    pts = arrays["keypoints"]
    assert arrays["image"].shape == (32, 48, 48, 1)
    # the keypoint box spans 1/margin of the crop, centred
    span = (pts.max(1) - pts.min(1)).max(1)
    np.testing.assert_allclose(span, 48 / cfg.margin, rtol=0.02)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: os.remove(os.path.join(d, "training_frames_keypoints.csv")), "keypoint CSV not found"),
        (lambda d: _rewrite_line(d, 3, lambda l: l.rsplit(",", 1)[0]), "line 3: 136 columns, expected 137"),
        (
            lambda d: _rewrite_line(d, 2, lambda l: l.replace(",", ",abc,", 1).rsplit(",", 1)[0]),
            "line 2: keypoints must be numbers",
        ),
        (lambda d: _rewrite_line(d, 1, lambda l: l.replace(",0,", ",x,", 1)), "line 1: header"),
        (
            lambda d: os.remove(os.path.join(d, "training", "Person_00_01.jpg")),
            "Person_00_01.jpg: image named on line 3",
        ),
        (
            lambda d: open(os.path.join(d, "training", "Person_00_02.jpg"), "w").close(),
            "Person_00_02.jpg: image file is empty",
        ),
    ],
)
def test_bad_inputs_name_the_file_and_problem(yt_folder, edit, message):
    edit(yt_folder)
    with pytest.raises(InputError, match=message.replace("(", r"\(")):
        youtube68.load(yt_folder)


def test_corrupt_image_is_named(yt_folder):
    path = os.path.join(yt_folder, "training", "Person_01_00.jpg")
    with open(path, "wb") as f:
        f.write(b"this is not an image")
    with pytest.raises(InputError, match="Person_01_00.jpg: unreadable image"):
        load_keypoints68(KeypointConfig(data=yt_folder, input_size=32))


def test_truncated_image_is_named(yt_folder):
    path = os.path.join(yt_folder, "training", "Person_02_00.jpg")
    data = open(path, "rb").read()
    open(path, "wb").write(data[: len(data) // 2])
    with pytest.raises(InputError, match="Person_02_00.jpg: unreadable image"):
        load_keypoints68(KeypointConfig(data=yt_folder, input_size=32))


def test_keypoints_far_outside_the_image_are_named(yt_folder):
    _rewrite_line(yt_folder, 5, lambda l: l.split(",", 1)[0] + ",900.0," + l.split(",", 2)[2])
    with pytest.raises(InputError, match=r"Person_00_03.jpg: keypoint 0 \(x = 900\) lies outside the"):
        load_keypoints68(KeypointConfig(data=yt_folder, input_size=32))


def test_directory_where_a_file_is_expected(yt_folder):
    os.remove(os.path.join(yt_folder, "training", "Person_00_00.jpg"))
    os.makedirs(os.path.join(yt_folder, "training", "Person_00_00.jpg"))
    with pytest.raises(InputError, match="Person_00_00.jpg: a directory, not an image"):
        youtube68.load(yt_folder)
    os.rmdir(os.path.join(yt_folder, "training", "Person_00_00.jpg"))
    os.mkfifo(os.path.join(yt_folder, "training", "Person_00_00.jpg"))  # reading it would block
    with pytest.raises(InputError, match=r"Person_00_00.jpg: not a regular file \(a pipe or device; line 2 of"):
        youtube68.load(yt_folder)


def test_missing_data_folder(tmp_path):
    with pytest.raises(InputError, match="data folder not found"):
        youtube68.load(str(tmp_path / "nope"))


def _rewrite_line(folder, number, change):
    path = os.path.join(folder, "training_frames_keypoints.csv")
    lines = open(path).read().splitlines()
    lines[number - 1] = change(lines[number - 1])
    open(path, "w").write("\n".join(lines) + "\n")
