"""Benchmark: how good label.py's keypoints would be, measured where the truth is known: each run
labels the validation people's whole frames as label.py labels photos (the largest detected
face, --refine re-crops, the mirrored pass where calibrated), and so does the mean of all runs
(label.py with several --run). A student learns such labels, so their NME bounds what it learns.
Frames that label.py would leave out (no face found, or any run's keypoints off the frame) are
counted and left out of every figure.

    python benchmarks/label_quality.py --data ../shared/data/youtube-faces-68 \
        --run runs/teacher_r5 --run facekp/shipped/keypoints68

Prints one JSON line: NME mean / median / share above 10% for each run and for their mean.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import data_default  # noqa: E402
from benchmarks.predict68 import nme_figures  # noqa: E402
from facekp import detect, photos  # noqa: E402
from facekp.data import youtube68  # noqa: E402
from facekp.data.samples import split_by_group  # noqa: E402
from facekp.inference import Predictor  # noqa: E402
from facekp.labelling import check_labelling_run, keypoints_by_run, on_photo  # noqa: E402

import numpy as np  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=data_default("youtube-faces-68"))
    parser.add_argument("--run", action="append", required=True, help="a 68-point run (or exported model); repeat")
    parser.add_argument("--refine", type=int, default=2, help="label.py's --refine")
    parser.add_argument("--detector", choices=detect.DETECTORS, default=detect.DEFAULT_DETECTOR)
    args = parser.parse_args()
    if len(set(args.run)) < len(args.run):
        parser.error("--run: each run once")
    for run in args.run:
        check_labelling_run(run)
    predictors = [Predictor.from_run(run) for run in args.run]
    splits = {(p.cfg.val_fraction, p.cfg.split_seed) for p in predictors}
    if len(splits) > 1:
        parser.error("--run: the runs hold out different validation people")
    ann = youtube68.load(args.data)
    _, val = split_by_group(ann.groups, *splits.pop())
    labelled, points, left_out = [], [], 0
    for i in val:
        rgb = photos.read_image(ann.paths[i])
        detections = photos.detect_in(rgb, args.detector)
        by_run = keypoints_by_run(rgb, detections, predictors, args.refine) if detections else None
        if by_run is None or not on_photo(by_run, rgb.shape):
            left_out += 1
            continue
        labelled.append(i)
        points.append(by_run)
    true, points = ann.keypoints[labelled], np.array(points)
    figures = {"benchmark": "label_quality", "refine": args.refine, "faces": len(labelled), "left_out": left_out}
    figures.update({run: nme_figures(points[:, r], true) for r, run in enumerate(args.run)})
    figures["mean_of_runs"] = nme_figures(points.mean(axis=1), true)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
