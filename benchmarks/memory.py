"""Benchmark: peak memory and speed of the training input, in memory vs the disk cache.

    python benchmarks/memory.py [--sizes 1000 10000 100000] [--workdir /tmp/facekp-memory]
    python benchmarks/memory.py --task embedding    # recognition faces, ArcFace

For each size a synthetic 68-point data set (the youtube-faces-68 layout: a CSV and 128x128 JPEG
frames, 20 per person) is generated once in the work folder; with `--task embedding`, a folder
of people (DIR/<person>/*.jpg, 20 112x112 JPEG faces each, read whole at 96 px: --face-crop full,
so that the figures are the input's, not the aligner's). Then, for each size and each of
`--cache memory` and `--cache disk` (the disk cache written afresh), a child process runs what
training runs before its first step (read, check, split, cache, validation crops of 25 people,
500 faces, at every size: setup_s), then draws augmented 96-pixel batches of 32 as fast as it
can (--pipeline-batches of them, 200 by default: pipeline images/s), then trains the width-16
model on them (train images/s); its peak resident memory is the kernel's ru_maxrss.
Prints one JSON line; the goals (issue #19): disk peak RSS within 10% from 10k to 100k images,
disk images/s within 10% of memory's.
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time

import cv2
import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PER_PERSON = 20
SIDE = 128
TRAIN_STEPS, WARMUP = 30, 10
VAL_PEOPLE = 25  # 500 validation faces at every size: the figures compare the training input


def template_points():
    """68 points of a face-like layout in a SIDE x SIDE frame (jaw arc, brows, nose, eyes, mouth)."""
    t = np.linspace(-0.9, 0.9, 17) * np.pi / 2
    jaw = np.stack([64 + 40 * np.sin(t), 60 + 45 * np.cos(t)], 1)
    rest = np.stack([np.linspace(34, 94, 51), 40 + 45 * np.abs(np.sin(np.linspace(0, 6 * np.pi, 51)))], 1)
    return np.concatenate([jaw, rest]).astype(np.float32)


def make_data(folder, count, seed=0):
    """The data set of `count` frames (skipped when it is there already)."""
    csv_path = os.path.join(folder, "training_frames_keypoints.csv")
    if os.path.isfile(csv_path):
        return folder
    rng = np.random.default_rng(seed)
    images = os.path.join(folder, "training")
    os.makedirs(images, exist_ok=True)
    variants = []  # a few hundred distinct JPEGs, written under every name
    for _ in range(256):
        frame = rng.integers(0, 60, (SIDE, SIDE, 3), dtype=np.uint8)
        cv2.ellipse(frame, (64, 64), (40, 50), 0, 0, 360, [int(v) for v in rng.integers(90, 200, 3)], -1)
        variants.append(cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes())
    base, rows = template_points(), []
    for i in range(count):
        name = f"Person_{i // PER_PERSON:05d}_{i % PER_PERSON:02d}.jpg"
        with open(os.path.join(images, name), "wb") as f:
            f.write(variants[i % len(variants)])
        points = base + rng.uniform(-2, 2, base.shape)
        rows.append(name + "," + ",".join(f"{v:.1f}" for v in points.reshape(-1)))
    with open(csv_path + ".tmp", "w") as f:
        f.write("," + ",".join(str(i) for i in range(136)) + "\n" + "\n".join(rows) + "\n")
    os.rename(csv_path + ".tmp", csv_path)
    return folder


def make_people(folder, count, seed=0):
    """A DIR/<person>/*.jpg folder of `count` faces, 20 a person (skipped when it is there)."""
    done = os.path.join(folder, ".complete")
    if os.path.isfile(done):
        return folder
    rng = np.random.default_rng(seed)
    variants = []
    for _ in range(256):
        face = rng.integers(0, 60, (112, 112, 3), dtype=np.uint8)
        cv2.ellipse(face, (56, 56), (36, 46), 0, 0, 360, [int(v) for v in rng.integers(90, 200, 3)], -1)
        variants.append(cv2.imencode(".jpg", face, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes())
    for i in range(count):
        person = os.path.join(folder, f"Person_{i // PER_PERSON:05d}")
        os.makedirs(person, exist_ok=True)
        with open(os.path.join(person, f"{i % PER_PERSON:02d}.jpg"), "wb") as f:
            f.write(variants[i % len(variants)])
    open(done, "w").close()
    return folder


def training_input(task_name, data, cache, cache_dir, size):
    """(task, config, training samples) after what training runs before step 0 (read, check,
    split, cache, validation crops of VAL_PEOPLE people at every size)."""
    from facekp import tasks
    from facekp.config import KeypointConfig, RecognitionConfig

    val_fraction = VAL_PEOPLE * PER_PERSON / int(size)  # the same validation set size at every size
    fields = dict(data=data, cache=cache, cache_dir=cache_dir, width=16, val_fraction=val_fraction, steps=10**6)
    if task_name == "embedding":
        cfg = RecognitionConfig(task="embedding", face_crop="full", input_size=96, batch_size=32, **fields)
    else:
        cfg = KeypointConfig(**fields)
    task = tasks.get(task_name)
    samples = task.load_samples(cfg)
    cfg = task.prepare(cfg, samples)
    train_samples, val_samples = task.split(cfg, samples)
    task.val_arrays(cfg, val_samples)
    return task, cfg, train_samples


def measure(task_name, data, cache, cache_dir, size, pipeline_batches):
    """In this (child) process: setup seconds, pipeline and training images/s, peak RSS (MB)."""
    sys.path.insert(0, REPO)
    from facekp.tfenv import quiet_tensorflow

    quiet_tensorflow()
    from facekp import models
    from facekp.train_loop import make_optimizer, make_train_step

    import tensorflow as tf

    start = time.perf_counter()
    task, cfg, train_samples = training_input(task_name, data, cache, cache_dir, size)
    setup_s = time.perf_counter() - start
    batches = iter(task.train_batches(cfg, train_samples, 0))

    def rate(count, step_fn):
        for _ in range(WARMUP):
            step_fn(next(batches))
        tick = time.perf_counter()
        for _ in range(count):
            step_fn(next(batches))
        return round(count * cfg.batch_size / (time.perf_counter() - tick))

    pipeline = rate(int(pipeline_batches), lambda batch: batch["image"].numpy())
    model = models.build(cfg)
    step = make_train_step(model, make_optimizer(cfg), task.loss_fn(cfg), tf.distribute.get_strategy(), cfg)
    training = rate(TRAIN_STEPS, lambda batch: float(step(batch)["loss"]))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"setup_s": round(setup_s, 1), "pipeline_images_per_s": pipeline, "train_images_per_s": training,
            "peak_rss_mb": round(peak)}  # fmt: skip


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--workdir", default="/tmp/facekp-memory")
    parser.add_argument("--task", choices=("keypoints68", "embedding"), default="keypoints68")
    parser.add_argument(
        "--pipeline-batches", type=int, default=200, help="batches drawn for the pipeline's speed (and memory)"
    )
    child = ("TASK", "DATA", "CACHE", "CACHE_DIR", "SIZE", "PIPELINE_BATCHES")
    parser.add_argument("--child", nargs=len(child), metavar=child, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(*args.child)))
        return
    results = {}
    for size in args.sizes:
        if args.task == "embedding":
            data = make_people(os.path.join(args.workdir, f"people-{size}"), size)
        else:
            data = make_data(os.path.join(args.workdir, f"data-{size}"), size)
        for cache in ("memory", "disk"):
            cache_dir = os.path.join(args.workdir, "cache")
            shutil.rmtree(cache_dir, ignore_errors=True)
            sizes = (str(size), str(args.pipeline_batches))
            child = [sys.executable, os.path.abspath(__file__), "--child", args.task, data, cache, cache_dir, *sizes]
            done = subprocess.run(child, capture_output=True, text=True)
            if done.returncode:
                sys.exit(f"{size} {cache}: the child failed:\n{done.stderr[-3000:]}")
            out = done.stdout
            results[f"{cache}_{size}"] = json.loads(out.strip().splitlines()[-1])
            print(size, cache, results[f"{cache}_{size}"], file=sys.stderr)
    summary = {"benchmark": "memory", "task": args.task, "sizes": args.sizes, **results}
    if {10000, 100000} <= set(args.sizes):
        summary["disk_rss_growth_10k_to_100k"] = round(
            results["disk_100000"]["peak_rss_mb"] / results["disk_10000"]["peak_rss_mb"] - 1, 3
        )
    for size in args.sizes:
        for speed in ("pipeline_images_per_s", "train_images_per_s"):
            summary[f"disk_vs_memory_{speed}_{size}"] = round(
                results[f"disk_{size}"][speed] / results[f"memory_{size}"][speed], 3
            )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
