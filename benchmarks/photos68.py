"""Benchmark: predict.py --detect on multi-face photos, for each detector and each way to start.

    python benchmarks/photos68.py [--data ../shared/data/youtube-faces-68] [--photos 60] [--seed 0]
                                  [--run facekp/shipped/keypoints68] [--refine 1] [--save DIR] [--settings ...]

Builds seeded 1600x1200 photos (benchmarks/collages.py) from the VALIDATION people's frames of the
shipped model's split (never seen in training): 3-8 faces each, keypoint boxes 24-220 px wide
(log-uniform), a third turned up to 20 degrees, on cluttered face-free backgrounds; writes them as
JPEG (quality 95) and runs predict.py's path on each file: read, detect (photo shrunk to 1600 px),
start boxes, keypoints with --refine passes (default 1, as predict.py), all faces of a photo in one batch.

Settings: MTCNN from its calibrated box (predict.py's default), from its five landmarks, and
without the keypoint model's cross-check of its detections; Haar from its box.

A true face is found when a predicted face's keypoint-box centre lies within half the true
keypoint-box width of its centre (one-to-one, nearest first). Prints one JSON line; per setting:
recall (all, and by keypoint-box width <48, 48-110, >110 px), false faces per photo, NME on found
faces (outer eye corners), fail@10% with misses counted as failures, seconds per photo (read +
detection, keypoints, total) and for the photos with 6 faces.
"""

import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import collages  # noqa: E402
from benchmarks.common import data_default  # noqa: E402
from facekp import config as config_lib, photos  # noqa: E402
from facekp.config import SHIPPED_KEYPOINTS  # noqa: E402
from facekp.data import youtube68  # noqa: E402
from facekp.data.geometry import face_boxes  # noqa: E402
from facekp.data.samples import split_by_group  # noqa: E402
from facekp.inference import Predictor  # noqa: E402
from facekp.metrics import nme_per_face  # noqa: E402
from facekp.schemes import IBUG68  # noqa: E402

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

SIZES = {"<48": (0, 48), "48-110": (48, 110), ">110": (110, 1e9)}
# (detector, start, whether the keypoints cross-check the detections: detect.confirmed)
SETTINGS = [("mtcnn", "box", True), ("mtcnn", "landmarks", True), ("mtcnn", "box", False), ("haar", "box", True)]


def match(pred_points, true_points):
    """Pairs (true index, predicted index), nearest first, a pair only when the predicted
    keypoint-box centre lies within half the true box's width of the true centre."""
    if not len(pred_points) or not len(true_points):
        return []
    (tc, tw), (pc, _) = face_boxes(true_points), face_boxes(pred_points)
    dist = np.linalg.norm(tc[:, None] - pc[None], axis=-1)
    pairs, used_t, used_p = [], set(), set()
    for t, p in zip(*np.unravel_index(np.argsort(dist, axis=None), dist.shape)):
        if t not in used_t and p not in used_p and dist[t, p] <= tw[t] / 2:
            pairs.append((int(t), int(p)))
            used_t.add(t)
            used_p.add(p)
    return pairs


def make_photos(args, folder):
    """Write the seeded collages as JPEG files; returns [(path, true keypoints (F, 68, 2))]."""
    cfg = config_lib.load(args.run)
    ann = youtube68.load(args.data)
    _, val = split_by_group(ann.groups, cfg.val_fraction, cfg.split_seed)
    rng = np.random.default_rng(args.seed)
    made = []
    for n in range(args.photos):
        collage = collages.make_collage(rng, lambda i: photos.read_image(ann.paths[i]), ann.keypoints, list(val))
        path = os.path.join(folder, f"photo{n:03d}.jpg")
        Image.fromarray(collage.image).save(path, quality=95)
        made.append((path, collage.keypoints))
    return made, len(set(ann.groups[i] for i in val))


def run_setting(predictor, made, detector, start, check, refine):
    found_nme, misses, false, widths, hits, seconds = [], 0, 0, [], [], []
    for path, true in made:
        began = time.perf_counter()
        rgb = photos.read_image(path)
        detections = photos.detect_in(rgb, detector)
        found_at = time.perf_counter()
        faces = photos.keypoint_faces(
            rgb, detections, predictor, find_all=True, refine=refine, start=start, check=check
        )
        points = np.array([p for _, _, p in faces]).reshape(-1, 68, 2)
        end = time.perf_counter()
        seconds.append((found_at - began, end - found_at, end - began, len(true)))
        pairs = match(points, true)
        matched = [t for t, _ in pairs]
        widths += list(face_boxes(true)[1])
        hits += [t in matched for t in range(len(true))]
        misses += len(true) - len(pairs)
        false += len(points) - len(pairs)
        if pairs:
            t_idx, p_idx = zip(*pairs)
            nme = nme_per_face(points[list(p_idx)], true[list(t_idx)], np.ones((len(pairs), 68)), IBUG68.norm_points)
            found_nme += list(nme)
    widths, hits, nme, seconds = np.array(widths), np.array(hits), np.array(found_nme), np.array(seconds)
    six = seconds[seconds[:, 3] == 6]
    return {
        "recall": round(float(hits.mean()), 4),
        "recall_by_width": {
            name: round(float(hits[(widths >= lo) & (widths < hi)].mean()), 4) for name, (lo, hi) in SIZES.items()
        },
        "false_faces_per_photo": round(false / len(made), 3),
        "nme_found": round(float(nme.mean()), 4),
        "nme_found_median": round(float(np.median(nme)), 4),
        "fail10_with_misses": round(float(((nme > 0.10).sum() + misses) / len(hits)), 4),
        "s_per_photo": dict(zip(("detect", "keypoints", "total"), np.round(seconds[:, :3].mean(0), 3).tolist())),
        "s_per_6_face_photo": round(float(six[:, 2].mean()), 3) if len(six) else None,
    }


def setting_name(detector, start, check):
    return f"{detector}_{start}_start" + ("" if check else "_unchecked")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=data_default("youtube-faces-68"))
    parser.add_argument("--run", default=SHIPPED_KEYPOINTS)
    parser.add_argument("--photos", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--refine", type=int, default=1, help="refinement passes (predict.py's --refine)")
    parser.add_argument("--save", help="keep the photos in this folder (default: a temporary one)")
    names = [setting_name(*setting) for setting in SETTINGS]
    parser.add_argument("--settings", nargs="+", choices=names, default=names, help="detector_start settings to run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.save or tmp
        os.makedirs(folder, exist_ok=True)
        made, people = make_photos(args, folder)
        predictor = Predictor.from_run(args.run)
        figures = {
            "benchmark": "photos68",
            "photos": len(made),
            "faces": sum(len(t) for _, t in made),
            "val_people": people,
            "refine": args.refine,
        }
        for detector, start, check in SETTINGS:
            name = setting_name(detector, start, check)
            if name not in args.settings:
                continue
            photos.detect_in(photos.read_image(made[0][0]), detector)  # load and warm up
            figures[name] = run_setting(predictor, made, detector, start, check, args.refine)
            print(name, figures[name], file=sys.stderr)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
