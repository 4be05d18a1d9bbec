"""Benchmark: predict.py's peak memory and time on large photos.

    python benchmarks/predict_memory.py [--megapixels 12 50 100] [--overlay sunglasses]

Each photo is generated in a temporary folder: a 3 x 3 grid of the data/samples photos (Mona
Lisa, the Obamas) scaled to fill a 3:2 frame, with a little noise so that the JPEG (quality 90)
is about as large as a camera's. `predict.py --detect` runs on each in its own process; its peak
resident memory (the kernel's ru_maxrss for that child) and wall time are measured. The same is
done for data/samples itself (two small photos): what TensorFlow and the model take before any
large photo. Prints one JSON line.
"""

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLES = os.path.join(REPO, "data", "samples")


def make_photo(path, megapixels, seed=0):
    """A JPEG of about `megapixels` (3:2) tiled from the sample photos; returns (width, height)."""
    width = int(round((megapixels * 1e6 * 1.5) ** 0.5))
    height = int(round(width / 1.5))
    samples = [cv2.imread(os.path.join(SAMPLES, name)) for name in sorted(os.listdir(SAMPLES))]
    photo = np.empty((height, width, 3), np.uint8)
    rng = np.random.default_rng(seed)
    xs, ys = np.linspace(0, width, 4).astype(int), np.linspace(0, height, 4).astype(int)
    for i in range(3):
        for j in range(3):
            tile = cv2.resize(
                samples[(i + j) % len(samples)], (xs[j + 1] - xs[j], ys[i + 1] - ys[i]), interpolation=cv2.INTER_CUBIC
            )
            noise = rng.integers(-3, 4, tile.shape, dtype=np.int16)
            photo[ys[i] : ys[i + 1], xs[j] : xs[j + 1]] = np.clip(tile + noise, 0, 255)
    if not cv2.imwrite(path, photo, [cv2.IMWRITE_JPEG_QUALITY, 90]):
        raise OSError(f"{path}: could not write")
    return width, height


def run_predict(inputs, out_dir, extra):
    """predict.py --detect in a child process: (peak RSS in MB, wall seconds, faces in the CSV)."""
    os.makedirs(out_dir)
    command = [sys.executable, os.path.join(REPO, "predict.py"), "--detect", "--out", out_dir, *extra, *inputs]
    with tempfile.TemporaryFile() as log:
        start = time.perf_counter()
        child = subprocess.Popen(command, stdout=log, stderr=log)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode:
            log.seek(0)
            sys.exit(f"predict.py failed ({child.returncode}): {log.read().decode()[-2000:]}")
    (table,) = [name for name in os.listdir(out_dir) if name.startswith("prediction-")]
    with open(os.path.join(out_dir, table)) as f:
        faces = sum(1 for _ in csv.reader(f)) - 1
    return round(usage.ru_maxrss / 1024), round(seconds, 1), faces  # ru_maxrss is in KB on Linux


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--megapixels", type=float, nargs="+", default=[12, 50, 100])
    parser.add_argument("--overlay", help="also pass --overlay NAME to predict.py")
    args = parser.parse_args()
    extra = ["--overlay", args.overlay] if args.overlay else []
    figures = {"benchmark": "predict_memory", "command": " ".join(["predict.py --detect", *extra])}
    with tempfile.TemporaryDirectory() as tmp:
        rss, seconds, faces = run_predict([SAMPLES], os.path.join(tmp, "out-samples"), extra)
        figures["samples"] = {"peak_rss_mb": rss, "wall_s": seconds, "faces": faces}
        photos = []
        for megapixels in args.megapixels:
            path = os.path.join(tmp, f"photo-{megapixels:g}mp.jpg")
            width, height = make_photo(path, megapixels)
            rss, seconds, faces = run_predict([path], os.path.join(tmp, f"out-{megapixels:g}"), extra)
            photos.append(
                {
                    "megapixels": round(width * height / 1e6, 1),
                    "size": f"{width}x{height}",
                    "file_mb": round(os.path.getsize(path) / 2**20, 1),
                    "peak_rss_mb": rss,
                    "wall_s": seconds,
                    "faces": faces,
                }
            )
            os.remove(path)
        figures["photos"] = photos
    figures["max_peak_rss_mb"] = max(p["peak_rss_mb"] for p in photos)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
