"""Benchmark: what the refinement pass could be (issue 18). predict.py's first pass (the run's own
network on MTCNN's calibrated box), then second passes cut around its points by the run and by
each --refiner run (a second network, trained for tighter, better-centred crops): each plain and
mirrored (its per-point offsets measured on frames of training people, as
calibrate_mirror.py does), each axis-aligned (as predict.py cuts) or upright (turned so that
the first pass's eye line is level). NME on the validation people, each second pass alone, in the
mean with the first (predict.py's --refine 1) and, plain and mirrored together, in the mean of
three passes (one pass more).

    python benchmarks/refine_passes68.py --data ../shared/data/youtube-faces-68 [--run RUN] [--refiner RUN2 ...]

Prints one JSON line.
"""

import argparse
import dataclasses
import itertools
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.calibrate_mirror import frames  # noqa: E402
from benchmarks.predict68 import nme_figures  # noqa: E402
from facekp.checkpoints import load_run  # noqa: E402
from facekp.config import SHIPPED_KEYPOINTS  # noqa: E402
from facekp.data import youtube68  # noqa: E402
from facekp.data.geometry import face_boxes, image_to_crop  # noqa: E402
from facekp.data.images import crop_with_map_fast  # noqa: E402
from facekp.data.samples import split_by_group  # noqa: E402
from facekp.inference import Predictor  # noqa: E402

import numpy as np  # noqa: E402

LEFT_EYE, RIGHT_EYE = slice(36, 42), slice(42, 48)  # iBUG-68: the eye on the image's left, then right


def upright_box(points):
    """Centre, side and angle of the square that holds a face's points (K, 2) in the frame turned
    so that the line from the image-left eye's centre to the other is level."""
    dx, dy = points[RIGHT_EYE].mean(0) - points[LEFT_EYE].mean(0)
    angle = np.arctan2(dy, dx)
    to_upright = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
    turned = points @ to_upright.T
    lo, hi = turned.min(0), turned.max(0)
    return to_upright.T @ ((lo + hi) / 2.0), (hi - lo).max(), angle


def one_pass(predictor, image, center, side, margin, mirrored, angle=0.0):
    """A pass's points (K, 2) in crop pixels and its crop's map (A (2, 2), t (2,)) to the image."""
    crop, (A, t) = crop_with_map_fast(image, center, side * margin, predictor.cfg.input_size, angle)
    crops = crop[None] / 255.0
    return (predictor.predict_mirrored(crops) if mirrored else predictor.predict(crops))[0], (A[0], t[0])


def all_passes(first, seconds, read_frames):
    """{name: [(points, map) per frame]}: the first pass, and every second pass by every network."""
    passes = {}
    for image, start in read_frames:
        center, side = start[0, :2], start[0, 2]
        points, (A, t) = one_pass(first, image, center, side, first.cfg.margin, False)
        passes.setdefault("first", []).append((points, (A, t)))
        in_image = points @ A.T + t
        axis_center, axis_side = (v[0] for v in face_boxes(in_image[None]))
        up_center, up_side, angle = upright_box(in_image)
        for (name, predictor), mirrored, upright in itertools.product(seconds.items(), (False, True), (False, True)):
            key = f"{name}|{'mirrored' if mirrored else 'plain'}|{'upright' if upright else 'axis'}"
            box = (up_center, up_side, angle) if upright else (axis_center, axis_side, 0.0)
            margin = predictor.cfg.refinement_margin
            passes.setdefault(key, []).append(one_pass(predictor, image, box[0], box[1], margin, mirrored, box[2]))
    return passes


def in_image(passes, offsets=0.0):
    return np.stack([(points + offsets) @ A.T + t for points, (A, t) in passes])


def mean_offsets(passes, true):
    """Each point's mean offset (K, 2) from a pass's points to the truth, in crop pixels."""
    return np.mean([image_to_crop(k, A, t) - p for (p, (A, t)), k in zip(passes, true)], axis=0)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--data", default=os.path.join(os.environ.get("FACEKP_DATA", "../shared/data"), "youtube-faces-68")
    )
    parser.add_argument("--run", default=SHIPPED_KEYPOINTS, help="the first pass's network")
    parser.add_argument("--refiner", action="append", default=[], help="another run for the second pass")
    args = parser.parse_args()
    predictors = {}
    for run in [args.run] + args.refiner:
        cfg, model = load_run(run)
        if cfg.task != "keypoints68":
            parser.error(f"{run}: a {cfg.task} run; this measures 68-point runs")
        predictors[run] = Predictor(dataclasses.replace(cfg, mirror_offsets=()), model)
    first = predictors[args.run]
    ann = youtube68.load(args.data)
    train, val = split_by_group(ann.groups, first.cfg.val_fraction, first.cfg.split_seed)
    calibration = np.sort(np.random.default_rng(0).choice(train, min(len(train), len(val)), replace=False))
    calibrated = all_passes(first, predictors, frames(ann, calibration, first.cfg.channels))
    offsets = {key: mean_offsets(p, ann.keypoints[calibration]) for key, p in calibrated.items() if "|mirrored|" in key}
    measured = all_passes(first, predictors, frames(ann, val, first.cfg.channels))
    points = {key: in_image(p, offsets.get(key, 0.0)) for key, p in measured.items()}
    true = ann.keypoints[val]
    figures = {
        "benchmark": "refine_passes68",
        "run": args.run,
        "faces": len(val),
        "first": nme_figures(points["first"], true),
    }
    for key, second in points.items():
        if key != "first":
            figures[key] = {
                "alone": nme_figures(second, true),
                "mean_with_first": nme_figures((points["first"] + second) / 2, true),
            }
    for run, upright in itertools.product(predictors, ("axis", "upright")):
        three = (points["first"] + points[f"{run}|plain|{upright}"] + points[f"{run}|mirrored|{upright}"]) / 3
        figures[f"{run}|{upright}|three_passes"] = nme_figures(three, true)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
