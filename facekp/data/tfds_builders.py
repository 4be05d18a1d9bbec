"""tensorflow-datasets builders for the three local sets; nothing downloads.

    pip install -e '.[tfds]'
    import tensorflow_datasets as tfds
    import facekp.data.tfds_builders  # registers facekp_youtube68, facekp_kaggle15, facekp_lfw
    ds = tfds.load("facekp_youtube68", split="train", data_dir="~/tensorflow_datasets",
                   download_and_prepare_kwargs=tfds_builders.manual("../shared/data/youtube-faces-68"))

The first load prepares TFRecord shards under data_dir from the folder given as `manual_dir`
(read with facekp's own checked readers, so a bad file is one clear InputError); later loads read
the shards. Images are stored as their original encoded bytes (the YouTube and LFW JPEGs; a photo
stored turned under an EXIF orientation as its upright pixels) or, for the Kaggle pixel strings, as PNG.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from facekp import photos
from facekp.data import identities, kaggle_fkd, youtube68
from facekp.data.images import file_orientation
from facekp.errors import InputError, first_line
from facekp.schemes import IBUG68, KAGGLE15


def as_shown(path: str) -> str | np.ndarray:
    """What a record stores of an image file: the file's own bytes, or for a photo stored turned
    (an EXIF orientation, which TensorFlow's decoders ignore) its pixels upright, as the labels
    and facekp's own readers take it. A file that TensorFlow cannot decode (truncated, damaged,
    not an image) raises InputError naming it, so no preparation ends with records that fail
    when read (tfds then removes the half-written dataset: the next load prepares again)."""
    check_decodes(path)
    return path if file_orientation(path) == 1 else identities.read_image(path, 3)


def check_decodes(path: str) -> None:
    """Decode an image file as a record's reader will (tf.io.decode_image, 3 channels), or raise
    InputError naming it; libjpeg's own lines on stderr (`Premature end of JPEG data`) are kept
    out of the user's terminal, the refusal says what is wrong."""
    try:
        with photos.decoder_messages():
            tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError, tf.errors.DataLossError) as e:
        raise InputError(f"{path}: unreadable image ({first_line(e)})") from None


def manual(folder: str | os.PathLike) -> dict[str, Any]:
    """download_and_prepare_kwargs for tfds.load that read `folder` as the manual_dir."""
    return {"download_config": tfds.download.DownloadConfig(manual_dir=os.path.abspath(folder))}


class FacekpYoutube68(tfds.core.GeneratorBasedBuilder):
    """YouTube-Faces frames with 68 keypoints (iBUG order) in pixels of each frame."""

    VERSION = tfds.core.Version("1.0.0")
    MANUAL_DOWNLOAD_INSTRUCTIONS = "manual_dir: the folder of training_frames_keypoints.csv and training/."

    def _info(self):
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(None, None, 3)),
                    "keypoints": tfds.features.Tensor(shape=(IBUG68.num_points, 2), dtype=np.float32),
                    "person": tfds.features.Text(),
                    "file_name": tfds.features.Text(),
                }
            ),
            supervised_keys=("image", "keypoints"),
        )

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(youtube68.load(str(dl_manager.manual_dir)))}

    def _generate_examples(self, ann):
        for path, points, person in zip(ann.paths, ann.keypoints, ann.groups):
            name = os.path.basename(path)
            yield name, {"image": as_shown(path), "keypoints": points, "person": person, "file_name": name}


class FacekpKaggle15(tfds.core.GeneratorBasedBuilder):
    """The Kaggle Facial Keypoints files: 96x96 gray faces, 15 points (NaN and mask 0 where missing).

    The test split has no keypoints (all NaN, mask 0); its `image_id` is Kaggle's ImageId."""

    VERSION = tfds.core.Version("1.0.0")
    MANUAL_DOWNLOAD_INSTRUCTIONS = "manual_dir: the folder of training.zip (or .csv) and test.zip (or .csv)."

    def _info(self):
        k = KAGGLE15.num_points
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(kaggle_fkd.SIDE, kaggle_fkd.SIDE, 1)),
                    "keypoints": tfds.features.Tensor(shape=(k, 2), dtype=np.float32),
                    "mask": tfds.features.Tensor(shape=(k,), dtype=np.float32),
                    "image_id": np.int64,
                }
            )
        )

    def _split_generators(self, dl_manager):
        folder = str(dl_manager.manual_dir)
        images, points, mask = kaggle_fkd.read_training(folder)
        ids, test_images = kaggle_fkd.read_test(folder)
        missing = np.full((len(ids), *points.shape[1:]), np.nan, np.float32)
        return {
            "train": self._generate_examples(images, points, mask, np.arange(1, len(images) + 1)),
            "test": self._generate_examples(test_images, missing, np.zeros(missing.shape[:2], np.float32), ids),
        }

    def _generate_examples(self, images, points, mask, ids):
        for image, p, m, i in zip(images, points, mask, ids):
            yield int(i), {"image": image, "keypoints": p, "mask": m, "image_id": int(i)}


class FacekpLfw(tfds.core.GeneratorBasedBuilder):
    """LFW photos (DIR/<person>/<person>_NNNN.jpg) with the person's name (a string: the number
    of people is only known once the folder is read)."""

    VERSION = tfds.core.Version("1.0.0")
    MANUAL_DOWNLOAD_INSTRUCTIONS = "manual_dir: the lfw/ folder of <person>/<images>."

    def _info(self):
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(None, None, 3)),
                    "person": tfds.features.Text(),
                    "file_name": tfds.features.Text(),
                }
            ),
            supervised_keys=("image", "person"),
        )

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(identities.person_folders(str(dl_manager.manual_dir)))}

    def _generate_examples(self, people):
        for person, paths in people.items():
            for path in paths:
                name = f"{person}/{os.path.basename(path)}"
                yield name, {"image": as_shown(path), "person": person, "file_name": name}
