"""tensorflow-datasets builders: prepared from tiny local folders (manual_dir), read back equal."""

import os
import re

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from facekp.data import kaggle_fkd, tfds_builders, youtube68
from facekp.errors import InputError
from tests.conftest import write_youtube68
from tests.test_kaggle15 import write_kaggle


def load(name, folder, data_dir, split="train"):
    ds = tfds.load(name, split=split, data_dir=str(data_dir), download_and_prepare_kwargs=tfds_builders.manual(folder))
    return list(tfds.as_numpy(ds))


def test_youtube68_records_hold_the_frames_and_keypoints(tmp_path):
    folder = write_youtube68(str(tmp_path / "yt"), people=2, per_person=3, formats=("jpeg", "rgba-png", "gray-jpeg"))
    examples = {e["file_name"].decode(): e for e in load("facekp_youtube68", folder, tmp_path / "tfds")}
    ann = youtube68.load(folder)
    assert len(examples) == len(ann.paths) == 6
    for path, points, person in zip(ann.paths, ann.keypoints, ann.groups):
        e = examples[os.path.basename(path)]
        np.testing.assert_array_equal(e["keypoints"], points)
        assert e["person"].decode() == person and e["image"].shape[2] == 3
        assert e["image"].shape[:2] == Image.open(path).size[::-1]
    again = load("facekp_youtube68", folder, tmp_path / "tfds")  # read from the prepared shards
    assert len(again) == 6


def test_kaggle15_train_and_test_splits(tmp_path):
    folder = write_kaggle(str(tmp_path / "k"), rows=6)
    images, points, mask = kaggle_fkd.read_training(folder)
    train = sorted(load("facekp_kaggle15", folder, tmp_path / "tfds"), key=lambda e: e["image_id"])
    assert len(train) == 6
    np.testing.assert_array_equal(np.stack([e["image"] for e in train]), images)
    np.testing.assert_array_equal(np.stack([e["mask"] for e in train]), mask)
    np.testing.assert_array_equal(np.stack([e["keypoints"] for e in train]), points)  # NaN where missing
    test = sorted(load("facekp_kaggle15", folder, tmp_path / "tfds", "test"), key=lambda e: e["image_id"])
    assert [e["image_id"] for e in test] == [1, 2, 3] and all(e["mask"].sum() == 0 for e in test)


def test_lfw_records_name_each_person(tmp_path):
    for person, count in [("Ann_Lee", 2), ("Bo_Diddley", 1)]:
        os.makedirs(tmp_path / "lfw" / person)
        for i in range(count):
            Image.new("RGB", (40, 40), (10 * i, 90, 30)).save(tmp_path / "lfw" / person / f"{person}_{i + 1:04d}.jpg")
    examples = load("facekp_lfw", str(tmp_path / "lfw"), tmp_path / "tfds")
    assert sorted(e["file_name"].decode() for e in examples) == [
        "Ann_Lee/Ann_Lee_0001.jpg",
        "Ann_Lee/Ann_Lee_0002.jpg",
        "Bo_Diddley/Bo_Diddley_0001.jpg",
    ]
    assert all(e["image"].shape == (40, 40, 3) for e in examples)


def cut_in_half(path):
    """A valid JPEG at `path`, its bytes then cut in half (a copy stopped midway)."""
    Image.new("RGB", (64, 48), (120, 60, 30)).save(path, format="JPEG", quality=95)
    data = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])


def test_a_truncated_jpeg_is_refused_at_preparation_and_the_next_load_prepares_again(tmp_path):
    """The cut JPEG was stored as it was: the preparation ended well, reading it failed with
    TensorFlow's `jpeg::Uncompress failed`, and every later load reused the bad records."""
    folder = write_youtube68(str(tmp_path / "yt"), people=2, per_person=2)
    broken = os.path.join(folder, "training", "Person_01_00.jpg")
    intact = open(broken, "rb").read()
    cut_in_half(broken)
    with pytest.raises(InputError) as refused:
        load("facekp_youtube68", folder, tmp_path / "tfds")
    message = str(refused.value)  # one line, without TensorFlow's `[Op:DecodeImage] name:`
    assert message.startswith(f"{broken}: unreadable image (") and "\n" not in message and "name:" not in message
    open(broken, "wb").write(intact)  # fixed: the next load prepares again, nothing half-prepared left
    assert len(load("facekp_youtube68", folder, tmp_path / "tfds")) == 4


def test_lfw_refuses_a_truncated_jpeg_at_preparation(tmp_path):
    os.makedirs(tmp_path / "lfw" / "Ann_Lee")
    Image.new("RGB", (40, 40), (10, 90, 30)).save(tmp_path / "lfw" / "Ann_Lee" / "Ann_Lee_0001.jpg")
    broken = str(tmp_path / "lfw" / "Ann_Lee" / "Ann_Lee_0002.jpg")
    cut_in_half(broken)
    with pytest.raises(InputError, match=f"^{re.escape(broken)}: unreadable image"):
        load("facekp_lfw", str(tmp_path / "lfw"), tmp_path / "tfds")
    os.remove(broken)
    assert len(load("facekp_lfw", str(tmp_path / "lfw"), tmp_path / "tfds")) == 1
