"""The disk cache: shards written once, read back exactly, in the in-memory path's order."""

import itertools
import os

import numpy as np
import pytest
import tensorflow as tf

from facekp import tasks
from facekp.config import RecognitionConfig, validate
from facekp.data import identities, pipeline, shards
from facekp.data.samples import Samples, split_by_group
from facekp.errors import InputError
from facekp.tasks.keypoints import KEYPOINTS68
from facekp.train_loop import train
from tests.conftest import FAST, tiny_config, write_youtube68
from tests.test_recognition import write_people


def random_samples(count, seed=0):
    rng = np.random.default_rng(seed)
    return Samples(
        rng.integers(0, 256, (count, 12, 12, 1), dtype=np.uint8),
        rng.normal(size=(count, 3, 2)).astype(np.float32),
        rng.integers(0, 2, (count, 3)).astype(np.float32),
        rng.normal(size=(count, 3)).astype(np.float32),
        [f"p{i % 5}" for i in range(count)],
        [f"row{i}" for i in range(count)],
    )


def test_one_shard_is_a_plain_permutation_per_epoch():
    seed = tf.constant(3, tf.int64)
    for step in (0, 1, 2, 7):  # batches 2 and 7 cross epochs
        np.testing.assert_array_equal(
            shards.stream_indices(step, 8, 20, 20, seed), pipeline.batch_indices(step, 8, 20, seed)
        )


def test_many_shards_visit_every_sample_once_per_epoch():
    count, batch = 23, 4  # 5 shards of 5, 5, 5, 4, 4 rows
    seed = tf.constant(0, tf.int64)
    stream = np.concatenate([shards.stream_indices(step, batch, count, 5, seed) for step in range(3 * count // batch)])
    for epoch in range(2):
        assert sorted(stream[epoch * count : (epoch + 1) * count]) == list(range(count))
    assert not np.array_equal(stream[:count], stream[count : 2 * count])  # each epoch its own order
    first = stream[:count]  # an epoch takes each shard's rows together: sample j is in shard j % 5
    assert len([shard for shard, _ in itertools.groupby(first % 5)]) == 5


@pytest.mark.parametrize("per_shard", [4096, 6])
def test_written_shards_read_back_exactly_in_stream_order(tmp_path, per_shard):
    samples = random_samples(27)
    arrays = {"image": samples.images, "keypoints": samples.keypoints, "mask": samples.mask, "boxes": samples.boxes}
    cache = shards.write(str(tmp_path / "cache"), 27, per_shard, lambda index: {k: v[index] for k, v in arrays.items()})
    assert len(cache) == 27 and sorted(os.listdir(tmp_path)) == ["cache"]  # no temporary folder left
    seed = tf.constant(1, tf.int64)
    for start in (0, 2, 5):  # resumed at steps 2 and 5: mid-shard, mid-epoch; on across epochs
        for step, batch in shards.read_batches(cache, 8, start, start + 7, seed):
            index = shards.stream_indices(step, 8, 27, per_shard, seed).numpy()
            for name, value in arrays.items():
                np.testing.assert_array_equal(batch[name].numpy(), value[index])  # bit for bit


def test_disk_and_memory_paths_give_the_same_batches(tmp_path, monkeypatch):
    monkeypatch.setattr(shards, "SHARD_BYTES", 7 * 64 * 64)  # 7 crops of 64 px: 24 training faces in 4 shards
    data = write_youtube68(str(tmp_path / "data"))
    batches, labels = {}, {}
    for cache in ("memory", "disk"):
        cfg = tiny_config(data, cache=cache, cache_dir=str(tmp_path / "cache"), steps=12, rotation=20.0, flip=0.5)
        train_samples, _ = KEYPOINTS68.split(cfg, KEYPOINTS68.load_samples(cfg))
        assert isinstance(train_samples.images, shards.ShardedImages) == (cache == "disk")
        labels[cache] = (train_samples.keypoints, train_samples.mask, train_samples.boxes)
        batches[cache] = list(KEYPOINTS68.train_batches(cfg, train_samples, start_step=5))
    for memory, disk in zip(labels["memory"], labels["disk"]):  # the cache's memory-mapped labels
        np.testing.assert_array_equal(memory, disk)
    assert len(batches["disk"]) == 7
    for memory, disk in zip(batches["memory"], batches["disk"]):
        for name in ("image", "keypoints", "mask"):
            np.testing.assert_array_equal(memory[name].numpy(), disk[name].numpy())


@pytest.mark.slow
def test_a_cache_is_written_once_and_reused(tmp_path):
    data, cache = write_youtube68(str(tmp_path / "data")), str(tmp_path / "cache")
    train(tiny_config(data, **FAST, cache="disk", cache_dir=cache), str(tmp_path / "run"))
    (folder,) = os.listdir(cache)
    meta = os.path.join(cache, folder, "meta.json")
    written = os.stat(meta).st_mtime_ns
    train(tiny_config(data, **FAST, cache="disk", cache_dir=cache, seed=1), str(tmp_path / "run2"))
    assert os.listdir(cache) == [folder]
    assert os.stat(meta).st_mtime_ns == written


def test_a_bad_image_stops_before_the_cache_and_the_run_exist(tmp_path):
    cfg = tiny_config(write_youtube68(str(tmp_path / "data")), cache="disk", cache_dir=str(tmp_path / "cache"))
    samples = KEYPOINTS68.load_samples(cfg)
    trained_on = samples.names[split_by_group(samples.groups, cfg.val_fraction, cfg.split_seed)[0][-1]]
    path = os.path.join(cfg.data, "training", trained_on)
    with open(path, "r+b") as f:  # header whole, body cut: found only when decoded
        f.truncate(os.path.getsize(path) // 2)
    with pytest.raises(InputError, match=f"{trained_on}: unreadable image"):
        train(cfg, str(tmp_path / "run"))
    assert not os.path.exists(tmp_path / "run")
    assert not os.listdir(tmp_path / "cache")  # the partial cache was removed


@pytest.mark.slow
def test_data_lost_mid_run_saves_a_checkpoint_and_is_one_line(tmp_path, monkeypatch):
    """A pipeline that fails at step 4 (as a disk cache deleted under the run would): the three
    steps done are saved, the error names the step, and the same command resumes."""
    cfg = tiny_config(write_youtube68(str(tmp_path / "data")), **FAST, ckpt_every=6)
    real = pipeline.train_dataset

    def failing_at_step_4(samples, cfg, flip_perm, start_step=0):
        ds = real(samples, cfg, flip_perm, start_step)
        gone = ds.skip(3).map(
            lambda b: {k: tf.debugging.check_numerics(v * np.nan, "shard gone") for k, v in b.items()}
        )
        return ds.take(3).concatenate(gone)

    monkeypatch.setattr(pipeline, "train_dataset", failing_at_step_4)
    with pytest.raises(
        InputError, match=r"training data unreadable at step 4 \(.*shard gone.*the last good checkpoint \(step 3\)"
    ):
        train(cfg, str(tmp_path / "run"))
    monkeypatch.setattr(pipeline, "train_dataset", real)
    train(cfg, str(tmp_path / "run"))
    assert sorted(os.listdir(tmp_path / "run" / "ckpt"))[-2:] == ["ckpt-6.data-00000-of-00001", "ckpt-6.index"]


def test_a_damaged_cache_is_written_again_and_an_unwritable_one_is_one_line(tmp_path):
    samples = random_samples(30)
    arrays = {"image": samples.images, "keypoints": samples.keypoints}
    records_of = lambda index: {k: v[index] for k, v in arrays.items()}  # noqa: E731
    folder = str(tmp_path / "cache")
    cache = shards.write(folder, 30, 8, records_of)
    with open(cache.files[1], "r+b") as f:  # a shard cut short (a kill, a full disk, a bad copy)
        f.truncate(100)
    assert not shards.complete(folder)
    cache = shards.write(folder, 30, 8, records_of)
    assert shards.complete(folder) and sorted(os.listdir(tmp_path)) == ["cache"]
    seed = tf.constant(0, tf.int64)
    for step, batch in shards.read_batches(cache, 6, 0, 5, seed):
        np.testing.assert_array_equal(batch["image"], samples.images[shards.stream_indices(step, 6, 30, 8, seed)])
    (tmp_path / "a_file").write_text("")
    with pytest.raises(InputError, match="a_file/cache: cannot write the disk cache there"):
        shards.write(str(tmp_path / "a_file" / "cache"), 30, 8, records_of)


def face_config(data, **fields):
    """A tiny identity classifier on whole-image faces (no aligner), 12 steps."""
    base = dict(task="identity", data=data, input_size=32, width=8, face_crop="full", batch_size=8, steps=12)
    return RecognitionConfig(**{**base, "eval_every": 6, "ckpt_every": 6, "log_every": 6, **fields})


@pytest.mark.parametrize("task", ["identity", "embedding"])
def test_recognition_faces_from_memory_and_disk_give_the_same_batches(tmp_path, monkeypatch, task):
    monkeypatch.setattr(shards, "SHARD_BYTES", 5 * 32 * 32)  # 5 faces a shard: 19 training faces in 4
    data = write_people(str(tmp_path / "people"), [f"P{i}_X" for i in range(6)], per_person=4)
    batches, labels = {}, {}
    for cache in ("memory", "disk"):
        cfg = face_config(data, task=task, cache=cache, cache_dir=str(tmp_path / "cache"), flip=0.5, rotation=10.0)
        recognition = tasks.get(task)
        samples = recognition.load_samples(cfg)
        assert isinstance(samples.images, identities.FaceFiles) == (cache == "disk")  # not read yet
        cfg = recognition.prepare(cfg, samples)
        train_faces, val_faces = recognition.split(cfg, samples)
        assert isinstance(train_faces.images, shards.ShardedImages) == (cache == "disk")
        assert isinstance(val_faces.images, np.ndarray)
        labels[cache] = np.asarray(train_faces.labels)
        batches[cache] = list(recognition.train_batches(cfg, train_faces, start_step=5))
    np.testing.assert_array_equal(labels["memory"], labels["disk"])
    assert len(batches["disk"]) == 7
    for memory, disk in zip(batches["memory"], batches["disk"]):
        for name in ("image", "label", "weight"):
            np.testing.assert_array_equal(memory[name].numpy(), disk[name].numpy())


def test_a_recognition_run_streams_its_faces_and_a_bad_one_stops_it_before_anything_is_written(tmp_path):
    data = write_people(str(tmp_path / "people"), [f"P{i}_X" for i in range(4)], per_person=4)
    cfg = face_config(data, cache="disk", cache_dir=str(tmp_path / "cache"))
    for number in range(1, 5):  # a training face or a validation face: found before anything is written
        with open(os.path.join(data, "P2_X", f"P2_X_{number:04d}.jpg"), "wb") as f:
            f.write(b"not a jpeg")
        with pytest.raises(InputError, match=f"P2_X_{number:04d}.jpg: not a readable image"):
            train(cfg, str(tmp_path / "run"))
        assert not os.path.exists(tmp_path / "run") and not os.listdir(tmp_path / "cache")
        write_people(data, ["P2_X"], per_person=4)
    results = train(cfg, str(tmp_path / "run"))
    assert "macro_f1" in results and len(os.listdir(tmp_path / "cache")) == 1
    triplet = face_config(data, task="embedding", embedding_loss="triplet", cache="disk", images_per_person=2)
    with pytest.raises(InputError, match="--cache disk: the triplet loss draws K faces of each person"):
        validate(triplet)
    embedding = tasks.get("embedding")  # called without validate (a library user): faces stay in memory
    train_faces, _ = embedding.split(triplet, embedding.load_samples(triplet))
    assert isinstance(train_faces.images, np.ndarray)
