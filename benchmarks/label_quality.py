"""Benchmark: how good label.py's keypoints would be, measured where the truth is known. Each run
labels the validation people's whole frames exactly as label.py labels photos (the largest MTCNN
face, --refine re-crops, mirrored passes where calibrated); so does the mean of all runs (label.py
with several --run). A student learns these labels, so their NME bounds what it can learn.

    python benchmarks/label_quality.py --data ../shared/data/youtube-faces-68 --run runs/teacher_r5 models/keypoints68

Prints one JSON line: NME mean / median / share above 10% for each run and for their mean.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import data_default  # noqa: E402
from benchmarks.predict68 import nme_figures  # noqa: E402
from facekp import photos  # noqa: E402
from facekp.data import youtube68  # noqa: E402
from facekp.data.samples import split_by_group  # noqa: E402
from facekp.inference import Predictor  # noqa: E402
from facekp.labelling import mean_keypoints  # noqa: E402

import numpy as np  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=data_default("youtube-faces-68"))
    parser.add_argument("--run", nargs="+", required=True, help="68-point runs (or exported models)")
    parser.add_argument("--refine", type=int, default=2, help="label.py's --refine")
    args = parser.parse_args()
    predictors = [Predictor.from_run(run) for run in args.run]
    splits = {(p.cfg.val_fraction, p.cfg.split_seed) for p in predictors}
    if len(splits) > 1:
        parser.error("--run: the runs hold out different validation people")
    ann = youtube68.load(args.data)
    _, val = split_by_group(ann.groups, *splits.pop())
    points = {run: [] for run in args.run}
    for i in val:
        rgb = photos.read_image(ann.paths[i])
        detections = photos.detect_in(rgb)
        for run, predictor in zip(args.run, predictors):
            points[run].append(mean_keypoints(rgb, detections, [predictor], args.refine))
    true = ann.keypoints[val]
    figures = {"benchmark": "label_quality", "refine": args.refine, "faces": len(val)}
    figures.update({run: nme_figures(p, true) for run, p in points.items()})
    figures["mean_of_runs"] = nme_figures(np.mean([points[run] for run in args.run], axis=0), true)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
