"""Calibration: where each detector's output puts the 68-point keypoint box, measured on the
TRAINING people's frames of youtube-faces-68 (the validation people stay unseen), for the
constants of facekp/detect.py.

    python benchmarks/calibrate_detectors.py [--data DIR] [--every 3]

Prints one JSON line: per detector, the median keypoint-box centre offset (dx, dy) and side in
detector box widths (BOX_CALIBRATION), and for MTCNN the mean position of its five landmarks in
keypoint-box units, centre 0 and side 1 (MEAN_LANDMARKS); with how many frames each is from (a
frame counts when its largest detection's centre lies inside the true keypoint box).
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import data_default  # noqa: E402
from facekp import config as config_lib, detect, photos  # noqa: E402
from facekp.config import SHIPPED_KEYPOINTS  # noqa: E402
from facekp.data import youtube68  # noqa: E402
from facekp.data.geometry import face_boxes  # noqa: E402
from facekp.data.samples import split_by_group  # noqa: E402

import numpy as np  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=data_default("youtube-faces-68"))
    parser.add_argument("--every", type=int, default=3, help="use every N-th training frame")
    args = parser.parse_args()
    cfg = config_lib.load(SHIPPED_KEYPOINTS)
    ann = youtube68.load(args.data)
    train, _ = split_by_group(ann.groups, cfg.val_fraction, cfg.split_seed)
    frames = list(train)[:: args.every]
    centers, sides = face_boxes(ann.keypoints[frames])
    boxes = {name: [] for name in detect.DETECTORS}
    marks = []
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
    figures = {"benchmark": "calibrate_detectors", "frames": len(frames)}
    for name, rows in boxes.items():
        figures[name] = {
            "frames": len(rows),
            "box_calibration": np.round(np.median(np.asarray(rows, np.float64), axis=0), 3).tolist(),
        }
    figures["mtcnn"]["mean_landmarks"] = np.round(np.mean(marks, axis=0), 3).tolist()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
