"""Calibration: where each detector's output puts the 68-point keypoint box, measured on the
TRAINING people's frames of youtube-faces-68 (the validation people stay unseen), for the
constants of facekp/detect.py.

    python benchmarks/calibrate_detectors.py [--data DIR] [--every 3]

Prints one JSON line: per detector, the median keypoint-box centre offset (dx, dy) and side in
detector box widths (BOX_CALIBRATION), and for MTCNN the mean position of its five landmarks in
keypoint-box units, centre 0 and side 1 (MEAN_LANDMARKS); with how many frames each is from (a
frame counts when its largest detection's centre lies inside the true keypoint box). Then, for
LANDMARK_AGREEMENT, the disagreement between MTCNN's landmarks and the shipped model's five points
(detect.disagreement): its quantiles on those frames, and on --collages multi-face photos of the
training people (benchmarks/collages.py, seed 1) for true and for false detections.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import collages  # noqa: E402
from benchmarks.common import data_default  # noqa: E402
from benchmarks.photos68 import match  # noqa: E402
from facekp import config as config_lib, detect, photos  # noqa: E402
from facekp.config import SHIPPED_KEYPOINTS  # noqa: E402
from facekp.data import youtube68  # noqa: E402
from facekp.data.geometry import face_boxes  # noqa: E402
from facekp.data.samples import split_by_group  # noqa: E402
from facekp.inference import Predictor  # noqa: E402

import numpy as np  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=data_default("youtube-faces-68"))
    parser.add_argument("--every", type=int, default=3, help="use every N-th training frame")
    parser.add_argument("--collages", type=int, default=30, help="multi-face photos of training people")
    args = parser.parse_args()
    cfg = config_lib.load(SHIPPED_KEYPOINTS)
    ann = youtube68.load(args.data)
    train, _ = split_by_group(ann.groups, cfg.val_fraction, cfg.split_seed)
    frames = list(train)[:: args.every]
    centers, sides = face_boxes(ann.keypoints[frames])
    boxes = {name: [] for name in detect.DETECTORS}
    marks, agreement = [], []
    predictor = Predictor.from_run(SHIPPED_KEYPOINTS)
    for n, i in enumerate(frames):
        rgb = photos.read_image(ann.paths[i])
        for name in detect.DETECTORS:
            faces = photos.detect_in(rgb, name)
            if not faces:
                continue
            face = max(faces, key=lambda f: f.box[2] * f.box[3])
            x, y, w, h = face.box
            if abs(x + w / 2 - centers[n][0]) > sides[n] / 2 or abs(y + h / 2 - centers[n][1]) > sides[n] / 2:
                continue  # found something else
            boxes[name].append(((centers[n][0] - x - w / 2) / w, (centers[n][1] - y - h / 2) / w, sides[n] / w))
            if face.landmarks is not None:
                marks.append((face.landmarks - centers[n]) / sides[n])
                agreement += disagreements(rgb, [face], predictor)[0]
    figures = {"benchmark": "calibrate_detectors", "frames": len(frames)}
    for name, rows in boxes.items():
        figures[name] = {
            "frames": len(rows),
            "box_calibration": np.round(np.median(np.asarray(rows, np.float64), axis=0), 3).tolist(),
        }
    figures["mtcnn"]["mean_landmarks"] = np.round(np.mean(marks, axis=0), 3).tolist()
    figures["disagreement_frames"] = quantiles(agreement)
    figures.update(collage_disagreements(ann, list(train), predictor, args.collages))
    print(json.dumps(figures))


def disagreements(rgb, faces, predictor):
    """detect.disagreement of each detection, its keypoints predicted as predict.py does; and the
    keypoints."""
    image = detect.as_channels(rgb, predictor.cfg.channels)
    points = predictor.predict_faces(image, [detect.start_box(f) for f in faces], refine=1)
    five, sides = predictor.scheme.five_points(points), face_boxes(points)[1]
    return [detect.disagreement(f, p, s) for f, p, s in zip(faces, five, sides)], points


def collage_disagreements(ann, pool, predictor, count):
    """Disagreement quantiles of true and of false MTCNN detections on multi-face photos."""
    rng, true, false = np.random.default_rng(1), [], []
    for _ in range(count):
        collage = collages.make_collage(rng, lambda i: photos.read_image(ann.paths[i]), ann.keypoints, pool)
        faces = photos.detect_in(collage.image, "mtcnn")
        if not faces:
            continue
        values, points = disagreements(collage.image, faces, predictor)
        matched = {p for _, p in match(points, collage.keypoints)}
        true += [v for i, v in enumerate(values) if i in matched]
        false += [v for i, v in enumerate(values) if i not in matched]
    return {
        "disagreement_collages_true": quantiles(true),
        "disagreement_collages_false": sorted(np.round(false, 3).tolist()),
    }


def quantiles(values):
    q = np.quantile(values, [0.5, 0.99, 0.995, 1.0])
    return {"n": len(values), **dict(zip(("median", "q99", "q995", "max"), np.round(q, 3).tolist()))}


if __name__ == "__main__":
    main()
