"""Benchmark: the shipped 68-point model as predict.py runs it, on whole frames of validation
people (never seen in training): OpenCV detection, calibrated box, refinement passes (--refine, default 1).

    python benchmarks/predict68.py --data ../shared/data/youtube-faces-68 [--run models/keypoints68]

Prints one JSON line: NME mean / median / share above 10% against the true keypoints, how many
frames had no detection (the image centre then starts the search), and ms per face for the
model (1 + --refine passes, with decoding and crops) and per image for the detector.

With --dlib (pip install -e .[dlib]: dlib + face_recognition_models, which ships the .dat), dlib's
68-point predictor runs on the same frames in the same process, twice: as its users run it (its
HOG detector, then the predictor on the largest detection), and on the same OpenCV boxes as ours.
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
    parser.add_argument("--dlib", action="store_true", help="also measure dlib's 68-point predictor")
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
    boxes = []
    for i in val:
        image = cv2.imread(ann.paths[i], cv2.IMREAD_GRAYSCALE)
        start = time.perf_counter()
        found = detect.detect_faces(image)
        detect_s += time.perf_counter() - start
        missed += not found
        boxes.append(max(found, key=lambda d: d[2] * d[3]) if found else None)
    true = ann.keypoints[val]
    result = metrics.keypoint_metrics(np.array(preds), true, np.ones(true.shape[:2]), IBUG68.norm_points)
    print(json.dumps({
        "benchmark": "predict68", "run": args.run, "val_faces": len(val), "val_people": len(set(ann.groups[j] for j in val)),
        "nme": round(result["nme"], 4), "nme_median": round(result["nme_median"], 4),
        "failure_rate_10pct": round(result["failure_rate"], 4), "no_detection": missed,
        "detector_ms_per_image": round(1000 * detect_s / len(val), 1),
        "refine": args.refine, "model_ms_per_face": round(1000 * (total_s - detect_s) / len(val), 1),
        **(dlib_figures([ann.paths[i] for i in val], true, boxes) if args.dlib else {}),
    }))


def dlib_figures(paths, true, opencv_boxes):
    """dlib's HOG detector + 68-point predictor on the same frames (NME over the faces it found),
    and its predictor on our OpenCV boxes (frames without one are left out, as for dlib's misses)."""
    import cv2
    import importlib.util

    import dlib
    # face_recognition_models' own lookup imports pkg_resources (gone from new setuptools): find the file
    package = importlib.util.find_spec("face_recognition_models").submodule_search_locations[0]
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(os.path.join(package, "models", "shape_predictor_68_face_landmarks.dat"))

    def shape(image, rect):
        start = time.perf_counter()
        s = predictor(image, rect)
        return np.array([(p.x, p.y) for p in s.parts()], np.float32), time.perf_counter() - start

    own, own_idx, same, same_idx, det_s, pred_s = [], [], [], [], 0.0, 0.0
    for i, path in enumerate(paths):
        image = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB)
        start = time.perf_counter()
        rects = detector(image, 1)  # one upsampling, as face_recognition does by default
        det_s += time.perf_counter() - start
        if len(rects):
            points, seconds = shape(image, max(rects, key=lambda r: r.area()))
            own.append(points)
            own_idx.append(i)
            pred_s += seconds
        if opencv_boxes[i] is not None:
            x, y, w, h = (int(round(v)) for v in opencv_boxes[i][:4])
            same.append(shape(image, dlib.rectangle(x, y, x + w, y + h))[0])
            same_idx.append(i)

    def figures(pred, index):
        t = true[index]
        return metrics.keypoint_metrics(np.array(pred), t, np.ones(t.shape[:2]), IBUG68.norm_points)

    mine, boxed = figures(own, own_idx), figures(same, same_idx)
    return {"dlib_nme": round(mine["nme"], 4), "dlib_nme_median": round(mine["nme_median"], 4),
            "dlib_failure_rate_10pct": round(mine["failure_rate"], 4), "dlib_no_detection": len(paths) - len(own),
            "dlib_nme_opencv_boxes": round(boxed["nme"], 4), "dlib_nme_median_opencv_boxes": round(boxed["nme_median"], 4),
            "dlib_detector_ms_per_image": round(1000 * det_s / len(paths), 1),
            "dlib_predictor_ms_per_face": round(1000 * pred_s / max(len(own), 1), 2)}


if __name__ == "__main__":
    main()
