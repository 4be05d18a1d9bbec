"""Benchmark: the two ways to get the 68-point training set into memory before training.

    pip install -e '.[tfds]'
    python benchmarks/tfds_io.py --data ../shared/data/youtube-faces-68

(a) facekp's own path: read the CSV, decode every JPEG, crop each face into the cache the
    augmenting pipeline draws from (what train.py does once per run);
(b) tensorflow-datasets: prepare `facekp_youtube68` once from the folder (manual_dir), then read
    the prepared records back, decode and crop the same way.
Prints one JSON line: seconds for (a), for (b)'s one-off preparation and for (b)'s read.
"""

import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import data_default  # noqa: E402
from facekp.config import KeypointConfig  # noqa: E402
from facekp.data import images, tfds_builders  # noqa: E402
from facekp.tasks.keypoints import CACHE_MARGIN, load_keypoints68  # noqa: E402

import tensorflow as tf  # noqa: E402
import tensorflow_datasets as tfds  # noqa: E402


def read_records(data_dir, folder, cfg):
    """Decoded, cropped faces from the prepared records, as load_keypoints68 makes them."""
    size = 2 * cfg.input_size

    def crop(example):
        points = example["keypoints"]
        lo, hi = tf.reduce_min(points, 0), tf.reduce_max(points, 0)
        image = tf.image.rgb_to_grayscale(tf.cast(example["image"], tf.float32))
        return images.crop_with_map(image, (lo + hi) / 2.0, tf.reduce_max(hi - lo) * CACHE_MARGIN, size)[0]

    ds = tfds.load(
        "facekp_youtube68", split="train", data_dir=data_dir, download_and_prepare_kwargs=tfds_builders.manual(folder)
    )
    return sum(1 for _ in ds.map(crop, num_parallel_calls=tf.data.AUTOTUNE).prefetch(8))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=data_default("youtube-faces-68"))
    args = parser.parse_args()
    cfg = KeypointConfig(data=os.path.abspath(args.data))
    start = time.perf_counter()
    count = len(load_keypoints68(cfg).images)
    own_s = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as data_dir:
        start = time.perf_counter()
        tfds.builder("facekp_youtube68", data_dir=data_dir).download_and_prepare(**tfds_builders.manual(args.data))
        prepare_s = time.perf_counter() - start
        start = time.perf_counter()
        read = read_records(data_dir, args.data, cfg)
        read_s = time.perf_counter() - start
    assert read == count, (read, count)
    print(
        json.dumps(
            {
                "benchmark": "tfds_io",
                "images": count,
                "own_decode_and_crop_s": round(own_s, 2),
                "tfds_prepare_once_s": round(prepare_s, 2),
                "tfds_read_decode_and_crop_s": round(read_s, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
