"""The disk cache: decode-once crops as sharded TFRecord files, written once, streamed in order.

The sample order is one function of (seed, step), shared with the in-memory path, so both give
the same batches at every step and a resumed run continues exactly where it stopped. M samples
lie in n = ceil(M / R) shards of about SHARD_BYTES of images each (R records), sample j in
shard j % n at row j // n. Epoch e visits the shards in a seeded permutation, and each shard's
rows in a seeded permutation: the reader holds a shard or two at a time, however large the
data. With one shard (M <= R) the order is a plain seeded permutation of all samples per epoch.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from facekp.config import KeypointConfig, RecognitionConfig, TrainConfig
from facekp.data import identities
from facekp.data.identities import FaceFiles, Faces
from facekp.data.images import CropSource, file_orientation, pixels
from facekp.data.samples import Samples
from facekp.digest import content_digest
from facekp.errors import InputError, first_line

SHARD_BYTES = 32 * 2**20  # of images per shard: what the reader holds per shard in flight
READ_THREADS = 1  # shards read (and held) at once: 2 held twice the memory and read no faster here
CHUNK = 256  # samples decoded at a time while writing
FORMAT = 4  # bump when the record layout changes: old caches are then not reused
SHARD_SEED_OFFSET = 2**40  # keeps the shard-order seed apart from every shard's row-order seed
ROW_SEED_STRIDE = 2**20


def records_per_shard(image_shape: tuple) -> int:
    """Records per shard for images of `image_shape` (uint8): SHARD_BYTES of them."""
    return max(1, SHARD_BYTES // int(np.prod(image_shape)))


def shard_count(count: int, per_shard: int) -> int:
    return max(1, -(-count // per_shard))


def shard_sizes(count: int, per_shard: int) -> np.ndarray:
    """Rows of each shard: sample j goes to shard j % n."""
    n = shard_count(count, per_shard)
    return np.array([(count - k + n - 1) // n for k in range(n)], np.int64)


def shard_order(seed: tf.Tensor, epoch: tf.Tensor, n: int) -> tf.Tensor:
    """The order in which epoch `epoch` visits the n shards."""
    pair = tf.stack([seed + SHARD_SEED_OFFSET, 2 * epoch])
    return tf.cast(tf.argsort(tf.random.stateless_uniform([n], pair)), tf.int64)


def row_order(seed: tf.Tensor, epoch: tf.Tensor, shard: tf.Tensor, size: tf.Tensor) -> tf.Tensor:
    """The order in which epoch `epoch` visits shard `shard`'s rows (shard 0: pipeline's seeds)."""
    pair = tf.stack([seed + shard * ROW_SEED_STRIDE, 2 * epoch])
    return tf.cast(tf.argsort(tf.random.stateless_uniform(tf.reshape(size, [1]), pair)), tf.int64)


def stream_indices(step: tf.Tensor, batch_size: int, count: int, per_shard: int, seed: tf.Tensor) -> tf.Tensor:
    """Sample indices (0..count-1) of batch `step`: positions step*B .. step*B+B-1 of the stream
    of `count` samples in shards of `per_shard`."""
    n, sizes = shard_count(count, per_shard), tf.constant(shard_sizes(count, per_shard))
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
    per_shard: int
    fields: dict  # name -> {"dtype": str, "shape": [...]}, per sample

    def __len__(self) -> int:
        return self.count

    @property
    def files(self) -> list[str]:
        n = shard_count(self.count, self.per_shard)
        return [os.path.join(self.folder, f"shard-{k:05d}.tfrecord") for k in range(n)]

    @classmethod
    def open(cls, folder: str) -> ShardedImages:
        with open(os.path.join(folder, "meta.json")) as f:
            meta = json.load(f)
        return cls(folder, meta["count"], meta["per_shard"], meta["fields"])


def _example(arrays: dict[str, np.ndarray], i: int) -> bytes:
    feature = {
        name: tf.train.Feature(bytes_list=tf.train.BytesList(value=[np.ascontiguousarray(a[i]).tobytes()]))
        for name, a in arrays.items()
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def write(
    folder: str,
    count: int,
    per_shard: int,
    records_of: Callable[[np.ndarray], dict[str, np.ndarray]],
    arrays: dict[str, np.ndarray] | None = None,
) -> ShardedImages:
    """Write `count` samples into shards of `per_shard` under `folder`, CHUNK samples at a time;
    `records_of(index)` gives the per-sample arrays of those samples; `arrays` are saved beside
    them as NAME.npy (for reading memory-mapped). Written into a temporary
    folder beside it and renamed when complete, so a cache is whole or absent. A complete cache
    already there (every shard at its recorded size) is reused; a damaged one is written again.
    A cache that cannot be written (disk full, no permission) is an InputError naming it."""
    if complete(folder):
        return ShardedImages.open(folder)
    try:
        os.makedirs(os.path.dirname(os.path.abspath(folder)), exist_ok=True)
        tmp = tempfile.mkdtemp(dir=os.path.dirname(os.path.abspath(folder)), prefix=os.path.basename(folder) + ".tmp-")
    except OSError as e:
        raise InputError(f"{folder}: cannot write the disk cache there ({e.strerror})")
    fields, n = {}, shard_count(count, per_shard)
    bar = tqdm(total=count, desc="writing the disk cache", unit="img", leave=False, disable=count < 200,
               mininterval=0.5 if sys.stderr.isatty() else 30.0)  # fmt: skip
    try:
        for k in range(n):
            with tf.io.TFRecordWriter(os.path.join(tmp, f"shard-{k:05d}.tfrecord")) as writer:
                members = np.arange(k, count, n)
                for start in range(0, len(members), CHUNK):
                    chunk = members[start : start + CHUNK]
                    records = records_of(chunk)
                    fields = {name: {"dtype": a.dtype.name, "shape": list(a.shape[1:])} for name, a in records.items()}
                    for i in range(len(chunk)):
                        writer.write(_example(records, i))
                    bar.update(len(chunk))
        for name, array in (arrays or {}).items():
            np.save(os.path.join(tmp, f"{name}.npy"), array)
        files = [f"shard-{k:05d}.tfrecord" for k in range(n)] + [f"{name}.npy" for name in arrays or {}]
        sizes = {file: os.path.getsize(os.path.join(tmp, file)) for file in files}
        meta = {"format": FORMAT, "count": count, "per_shard": per_shard, "fields": fields, "bytes": sizes}
        with open(os.path.join(tmp, "meta.json"), "w") as f:
            json.dump(meta, f)
        shutil.rmtree(folder, ignore_errors=True)  # a damaged cache of the same key
        try:
            os.rename(tmp, folder)
        except OSError:  # another process wrote it first
            if not complete(folder):
                raise
    except (OSError, tf.errors.OpError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else first_line(e)
        raise InputError(f"{folder}: cannot write the disk cache ({reason})")
    finally:
        bar.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return ShardedImages.open(folder)


def complete(folder: str) -> bool:
    """Whether `folder` holds a whole cache: its meta.json, and every file at its recorded size."""
    try:
        with open(os.path.join(folder, "meta.json")) as f:
            sizes = json.load(f)["bytes"]
        return all(os.path.getsize(os.path.join(folder, file)) == size for file, size in sizes.items())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def cache_key(*parts: object) -> str:
    """A short digest of everything that defines a cache's records (arrays hashed by content)."""
    return content_digest(FORMAT, *parts)


def read_batches(
    cache: ShardedImages, batch_size: int, start_step: int, steps: int, seed: tf.Tensor
) -> tf.data.Dataset:
    """(step, {field: batch tensor}) for steps start_step .. steps-1, in stream_indices' order.

    Each (epoch, shard) is read whole, permuted and unbatched, READ_THREADS shards at a time. A
    resumed run starts at the shard that holds its first step's position and skips the records
    before it in that shard (unparsed strings).
    """
    count, n = cache.count, shard_count(cache.count, cache.per_shard)
    sizes, files = shard_sizes(count, cache.per_shard), tf.constant(cache.files)
    first_epoch, within = divmod(start_step * batch_size, count)
    visits = shard_order(seed, tf.constant(first_epoch, tf.int64), n).numpy()
    ends = np.cumsum(sizes[visits])
    first_slot = int(np.searchsorted(ends, within, side="right"))
    skip = within - (ends[first_slot] - sizes[visits[first_slot]])

    def shard_records(epoch, shard):
        records = tf.data.TFRecordDataset(files[shard]).batch(int(sizes[0]))
        return records.map(lambda r: tf.gather(r, row_order(seed, epoch, shard, tf.gather(sizes, shard))))

    def epoch_records(epoch, from_slot=0):
        shards = tf.data.Dataset.from_tensor_slices(shard_order(seed, epoch, n)[from_slot:])
        return shards.interleave(
            lambda shard: shard_records(epoch, shard),
            cycle_length=min(n, READ_THREADS),
            num_parallel_calls=min(n, READ_THREADS),
            deterministic=True,
        )

    first = epoch_records(tf.constant(first_epoch, tf.int64), first_slot).unbatch().skip(skip)
    later = tf.data.Dataset.range(first_epoch + 1, 2**62).flat_map(epoch_records).unbatch()
    records = first.concatenate(later).batch(batch_size, drop_remainder=True)
    spec = {name: tf.io.FixedLenFeature([], tf.string) for name in cache.fields}

    def parse(step, serialized):
        raw = tf.io.parse_example(serialized, spec)
        return step, {
            name: tf.reshape(tf.io.decode_raw(raw[name], tf.dtypes.as_dtype(f["dtype"])), [batch_size, *f["shape"]])
            for name, f in cache.fields.items()
        }

    steps_ds = tf.data.Dataset.range(start_step, steps)
    return tf.data.Dataset.zip((steps_ds, records)).map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


MEMORY_SHARE = 16  # the in-memory path peaks at about 4x its crops (benchmarks/memory.py)


def memory_budget() -> int:
    """Bytes of decoded crops that `--cache auto` keeps in memory: 1/MEMORY_SHARE of the memory
    this process may use (the machine's, or its container's limit when lower)."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        with open("/sys/fs/cgroup/memory.max") as f:  # cgroup v2; "max" when unlimited
            total = min(total, int(f.read().strip()))
    except (OSError, ValueError):
        pass
    return total // MEMORY_SHARE


def choose(cfg: TrainConfig, count: int, bytes_each: int) -> str:
    """memory or disk for `count` crops or faces of `bytes_each` (--cache auto: disk above the budget)."""
    if cfg.cache != "auto":
        return cfg.cache
    return "disk" if cfg.source == "tfdata" and count * bytes_each > memory_budget() else "memory"


def cache_root(cfg: TrainConfig) -> str:
    return cfg.cache_dir or os.environ.get("FACEKP_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "facekp")


def _in_cache(
    cfg: TrainConfig, task: str, source: np.ndarray | CropSource | FaceFiles, identity: tuple, labels: dict
) -> tuple[ShardedImages, dict[str, np.ndarray]]:
    """`source`'s images (read a chunk at a time when not in memory) and their `labels` (arrays,
    one row per image) in the disk cache of `task`, found by `identity` (what defines the images)
    and the labels: (the cache, the labels memory-mapped from it)."""
    per_shard = records_per_shard(source.shape[1:])  # arrays, and sources still to read, alike
    key = cache_key(task, per_shard, *identity, *labels.values())
    folder = os.path.join(cache_root(cfg), f"{task}-{len(source)}-{key}")

    def records_of(index):
        return {"image": pixels(source[index], desc=None), **{name: array[index] for name, array in labels.items()}}

    on_disk = write(folder, len(source), per_shard, records_of, labels)
    return on_disk, {name: np.load(os.path.join(folder, f"{name}.npy"), mmap_mode="r") for name in labels}


def file_stats(paths: list) -> list[tuple[int, int]]:
    """(size, modification time) of each file: a changed file makes another cache."""
    return [(os.path.getsize(p), os.stat(p).st_mtime_ns) for p in paths]


def cached(samples: Samples, cfg: KeypointConfig, task: str) -> Samples:
    """`samples` with their crops (decoded now, or in memory) in a disk cache, written once:
    the same samples (files, squares, crop size, labels) find the same cache on later runs. The
    labels come back memory-mapped from the cache (training reads them from the shards)."""
    source = samples.images
    if isinstance(source, CropSource):
        identity = (source.paths, file_stats(source.paths), source.centers, source.sides, source.size, source.channels)
        turned = [(i, o) for i, o in enumerate(map(file_orientation, source.paths)) if o != 1]
        if turned:  # photos stored turned are cropped upright: a cache of their crops as stored is not reused
            identity += ("upright", turned)
    else:
        identity = (source,)
    labels = {"keypoints": samples.keypoints, "mask": samples.mask, "boxes": samples.boxes}
    on_disk, mapped = _in_cache(cfg, task, source, identity, labels)
    return Samples(on_disk, mapped["keypoints"], mapped["mask"], mapped["boxes"], samples.groups, samples.names)


def cached_faces(faces: Faces, cfg: RecognitionConfig, task: str) -> Faces:
    """`faces` (read now, or in memory) in a disk cache with their labels, written once: the same
    files, starts, crop and aligning keypoint model (cfg.aligned_by) find the same cache again."""
    source = faces.images
    if isinstance(source, FaceFiles):
        identity = (source.paths, file_stats(source.paths), source.starts, source.size, source.channels)
        identity += (source.face_crop, cfg.aligned_by, cfg.face_scale, identities.FACE_CUT_VERSION)
    else:
        identity = (source,)
    on_disk, mapped = _in_cache(cfg, task, source, identity, {"label": np.asarray(faces.labels, np.int32)})
    return Faces(on_disk, mapped["label"], faces.class_names, faces.names)
