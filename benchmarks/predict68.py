"""Benchmark: the shipped 68-point model as predict.py runs it, on whole frames of validation
people (never seen in training): OpenCV detection, calibrated box, refinement passes (--refine, default 1).

    python benchmarks/predict68.py --data ../shared/data/youtube-faces-68 [--run models/keypoints68]

Prints one JSON line: NME mean / median / share above 10% against the true keypoints, how many
frames had no detection (the image centre then starts the search), and ms per face for the
model (1 + --refine passes, with decoding and crops) and per image for the detector. dlib's figures are not measured here
(dlib is not installed in this workspace; see the README).
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from facekp.tfenv import quiet_tensorflow  # noqa: E402

quiet_tensorflow()

import numpy as np  # noqa: E402

from facekp import config as config_lib, detect, metrics, photos  # noqa: E402
from facekp.data import youtube68  # noqa: E402
from facekp.data.samples import split_by_group  # noqa: E402
from facekp.inference import SHIPPED_MODEL, Predictor  # noqa: E402
from facekp.schemes import IBUG68  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=os.path.join(os.environ.get("FACEKP_DATA", "../shared/data"),
                                                       "youtube-faces-68"))
    parser.add_argument("--run", default=SHIPPED_MODEL)
    parser.add_argument("--refine", type=int, default=1, help="refinement passes, as predict.py --refine")
    args = parser.parse_args()
    predictor = Predictor.from_run(args.run)
    cfg = config_lib.load(args.run)
    ann = youtube68.load(args.data)
    _, val = split_by_group(ann.groups, cfg.val_fraction, cfg.split_seed)
    preds, missed, detect_s, total_s = [], 0, 0.0, 0.0
    for i in val:
        start = time.perf_counter()
        faces, _ = photos.faces_in(ann.paths[i], predictor, find_all=False, refine=args.refine)
        total_s += time.perf_counter() - start
        preds.append(faces[0][2])
    # detector timing on its own, and detection misses
    import cv2
    for i in val:
        image = cv2.imread(ann.paths[i], cv2.IMREAD_GRAYSCALE)
        start = time.perf_counter()
        found = detect.detect_faces(image)
        detect_s += time.perf_counter() - start
        missed += not found
    true = ann.keypoints[val]
    result = metrics.keypoint_metrics(np.array(preds), true, np.ones(true.shape[:2]), IBUG68.norm_points)
    print(json.dumps({
        "benchmark": "predict68", "run": args.run, "val_faces": len(val), "val_people": len(set(ann.groups[j] for j in val)),
        "nme": round(result["nme"], 4), "nme_median": round(result["nme_median"], 4),
        "failure_rate_10pct": round(result["failure_rate"], 4), "no_detection": missed,
        "detector_ms_per_image": round(1000 * detect_s / len(val), 1),
        "refine": args.refine, "model_ms_per_face": round(1000 * (total_s - detect_s) / len(val), 1),
    }))


if __name__ == "__main__":
    main()
