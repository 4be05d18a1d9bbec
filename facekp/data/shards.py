"""The disk cache: decode-once crops as sharded TFRecord files, written once, streamed in order.

The sample order is one function of (seed, step), shared with the in-memory path, so both give
the same batches at every step and a resumed run continues exactly where it stopped. M samples
lie in n = ceil(M / RECORDS_PER_SHARD) shards, sample j in shard j % n at row j // n. Epoch e
visits the shards in a seeded permutation, and each shard's rows in a seeded permutation: the
reader holds one shard at a time per reading thread, however large the data. With one shard
(M <= RECORDS_PER_SHARD) the order is a plain seeded permutation of all samples per epoch.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from facekp.config import KeypointConfig
from facekp.data.images import CropSource
from facekp.data.samples import Samples

RECORDS_PER_SHARD = 4096
READ_THREADS = 2  # shards read (and held) at once
CHUNK = 256  # samples decoded at a time while writing
FORMAT = 1  # bump when the record layout changes: old caches are then not reused
SHARD_SEED_OFFSET = 2**40  # keeps the shard-order seed apart from every shard's row-order seed
ROW_SEED_STRIDE = 2**20


def shard_count(count: int) -> int:
    return max(1, -(-count // RECORDS_PER_SHARD))


def shard_sizes(count: int) -> np.ndarray:
    """Rows of each shard: sample j goes to shard j % n."""
    n = shard_count(count)
    return np.array([(count - k + n - 1) // n for k in range(n)], np.int64)


def shard_order(seed: tf.Tensor, epoch: tf.Tensor, n: int) -> tf.Tensor:
    """The order in which epoch `epoch` visits the n shards."""
    pair = tf.stack([seed + SHARD_SEED_OFFSET, 2 * epoch])
    return tf.cast(tf.argsort(tf.random.stateless_uniform([n], pair)), tf.int64)


def row_order(seed: tf.Tensor, epoch: tf.Tensor, shard: tf.Tensor, size: tf.Tensor) -> tf.Tensor:
    """The order in which epoch `epoch` visits shard `shard`'s rows (shard 0: pipeline's seeds)."""
    pair = tf.stack([seed + shard * ROW_SEED_STRIDE, 2 * epoch])
    return tf.cast(tf.argsort(tf.random.stateless_uniform(tf.reshape(size, [1]), pair)), tf.int64)


def stream_indices(step: tf.Tensor, batch_size: int, count: int, seed: tf.Tensor) -> tf.Tensor:
    """Sample indices (0..count-1) of batch `step`: positions step*B .. step*B+B-1 of the stream."""
    n, sizes = shard_count(count), tf.constant(shard_sizes(count))
    pos = tf.cast(step, tf.int64) * batch_size + tf.range(batch_size, dtype=tf.int64)
    epoch, within = pos // count, pos % count

    def locate(epoch_within):  # -> (shard, offset in the shard's visiting order)
        e, w = epoch_within[0], epoch_within[1]
        order = shard_order(seed, e, n)
        ends = tf.cumsum(tf.gather(sizes, order))
        slot = tf.searchsorted(ends, w[None], side="right")[0]
        return tf.stack([order[slot], w - ends[slot] + sizes[order[slot]]])

    located = tf.map_fn(locate, tf.stack([epoch, within], axis=1))
    shard, offset = located[:, 0], located[:, 1]
    keys, which = tf.unique(epoch * n + shard)  # a batch touches one or two (epoch, shard) pairs

    def rows(key):
        k = key % n
        return tf.pad(row_order(seed, key // n, k, sizes[k]), [[0, sizes[0] - sizes[k]]])

    table = tf.map_fn(rows, keys, fn_output_signature=tf.TensorSpec([None], tf.int64))
    row = tf.gather_nd(table, tf.stack([tf.cast(which, tf.int64), offset], axis=1))
    return shard + row * n


@dataclass(frozen=True)
class ShardedImages:
    """A written cache: its folder and what meta.json says (count, shard files, record fields)."""

    folder: str
    count: int
    fields: dict  # name -> {"dtype": str, "shape": [...]}, per sample

    def __len__(self) -> int:
        return self.count

    @property
    def files(self) -> list[str]:
        return [os.path.join(self.folder, f"shard-{k:05d}.tfrecord") for k in range(shard_count(self.count))]

    @classmethod
    def open(cls, folder: str) -> ShardedImages:
        with open(os.path.join(folder, "meta.json")) as f:
            meta = json.load(f)
        return cls(folder, meta["count"], meta["fields"])


def _example(arrays: dict[str, np.ndarray], i: int) -> bytes:
    feature = {
        name: tf.train.Feature(bytes_list=tf.train.BytesList(value=[np.ascontiguousarray(a[i]).tobytes()]))
        for name, a in arrays.items()
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def write(folder: str, count: int, records_of: Callable[[np.ndarray], dict[str, np.ndarray]]) -> ShardedImages:
    """Write `count` samples into shards under `folder`, CHUNK samples at a time; `records_of(index)`
    gives the per-sample arrays of those samples. Written beside the folder and renamed when
    complete, so a cache is whole or absent; an existing folder is reused."""
    if os.path.isfile(os.path.join(folder, "meta.json")):
        return ShardedImages.open(folder)
    os.makedirs(os.path.dirname(os.path.abspath(folder)), exist_ok=True)
    tmp = f"{folder}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    fields, n = {}, shard_count(count)
    try:
        for k in range(n):
            with tf.io.TFRecordWriter(os.path.join(tmp, f"shard-{k:05d}.tfrecord")) as writer:
                members = np.arange(k, count, n)
                for start in range(0, len(members), CHUNK):
                    arrays = records_of(members[start : start + CHUNK])
                    fields = {name: {"dtype": a.dtype.name, "shape": list(a.shape[1:])} for name, a in arrays.items()}
                    for i in range(len(arrays[next(iter(arrays))])):
                        writer.write(_example(arrays, i))
        with open(os.path.join(tmp, "meta.json"), "w") as f:
            json.dump({"format": FORMAT, "count": count, "fields": fields}, f)
        try:
            os.rename(tmp, folder)
        except OSError:  # another process wrote it first
            if not os.path.isfile(os.path.join(folder, "meta.json")):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return ShardedImages.open(folder)


def cache_key(*parts: object) -> str:
    """A short digest of everything that defines a cache's records (arrays hashed by content)."""
    digest = hashlib.sha1(str(FORMAT).encode())
    for part in parts:
        digest.update(np.ascontiguousarray(part).tobytes() if isinstance(part, np.ndarray) else repr(part).encode())
    return digest.hexdigest()[:20]


def read_batches(
    cache: ShardedImages, batch_size: int, start_step: int, steps: int, seed: tf.Tensor
) -> tf.data.Dataset:
    """(step, {field: batch tensor}) for steps start_step .. steps-1, in stream_indices' order.

    Each (epoch, shard) is read whole, permuted, and unbatched; READ_THREADS shards load in
    parallel. Resuming skips the records before the first step's position (unparsed strings).
    """
    count, n = cache.count, shard_count(cache.count)
    sizes, files = tf.constant(shard_sizes(count)), tf.constant(cache.files)
    start = start_step * batch_size

    def shard_records(epoch, shard):
        records = tf.data.TFRecordDataset(files[shard]).batch(int(shard_sizes(count)[0]))
        return records.map(lambda r: tf.gather(r, row_order(seed, epoch, shard, sizes[shard])))

    def epoch_records(epoch):
        shards = tf.data.Dataset.from_tensor_slices(shard_order(seed, epoch, n))
        return shards.interleave(
            lambda shard: shard_records(epoch, shard),
            cycle_length=min(n, READ_THREADS),
            num_parallel_calls=min(n, READ_THREADS),
            deterministic=True,
        )

    records = tf.data.Dataset.range(start // count, 2**62).flat_map(epoch_records).unbatch()
    records = records.skip(start % count).batch(batch_size, drop_remainder=True)
    spec = {name: tf.io.FixedLenFeature([], tf.string) for name in cache.fields}

    def parse(step, serialized):
        raw = tf.io.parse_example(serialized, spec)
        return step, {
            name: tf.reshape(tf.io.decode_raw(raw[name], tf.dtypes.as_dtype(f["dtype"])), [batch_size, *f["shape"]])
            for name, f in cache.fields.items()
        }

    steps_ds = tf.data.Dataset.range(start_step, steps)
    return tf.data.Dataset.zip((steps_ds, records)).map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def memory_budget() -> int:
    """Bytes of decoded crops that `--cache auto` keeps in memory: a quarter of this machine's."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 4


def choose(cfg: KeypointConfig, count: int, bytes_each: int) -> str:
    """memory or disk for `count` crops of `bytes_each` (--cache auto: disk above the budget)."""
    if cfg.cache != "auto":
        return cfg.cache
    return "disk" if cfg.source == "tfdata" and count * bytes_each > memory_budget() else "memory"


def cache_root(cfg: KeypointConfig) -> str:
    return cfg.cache_dir or os.environ.get("FACEKP_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "facekp")


def cached(samples: Samples, cfg: KeypointConfig, task: str) -> Samples:
    """`samples` with their images (decoded now, or in memory) in a disk cache, written once:
    the same samples (files, squares, crop size, labels) find the same cache on later runs."""
    source = samples.images
    if isinstance(source, CropSource):
        stats = [(os.path.getsize(p), os.stat(p).st_mtime_ns) for p in source.paths]
        identity = (source.paths, stats, source.centers, source.sides, source.size, source.channels)
    else:
        identity = (source,)
    key = cache_key(task, *identity, samples.keypoints, samples.mask, samples.boxes)
    folder = os.path.join(cache_root(cfg), f"{task}-{len(samples)}-{key}")

    def records_of(index):
        images = source[index]
        return {
            "image": images.decode() if isinstance(images, CropSource) else images,
            "keypoints": samples.keypoints[index],
            "mask": samples.mask[index],
            "boxes": samples.boxes[index],
        }

    on_disk = write(folder, len(samples), records_of)
    return Samples(on_disk, samples.keypoints, samples.mask, samples.boxes, samples.groups, samples.names)
