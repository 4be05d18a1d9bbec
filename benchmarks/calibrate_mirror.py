"""Calibrate the mirrored refinement pass of a 68-point run: how far, per point, its keypoints on a
mirrored refinement crop (mirrored back) lie from the truth, on faces of training people of the
run's --data (a YouTube-Faces CSV folder, a .pts folder or an imglab XML, in the convention of the
run's first head: the offsets are that head's); with
--write, those offsets go into RUN/config.json (`mirror_offsets`), and predict.py then runs every
other refinement pass on the mirrored crop, its points moved by them.

    python benchmarks/calibrate_mirror.py --run RUN [--data DIR] [--write]

The crops are predict.py's: MTCNN's calibrated box, one pass at the run's margin, then the
refinement crop (the run's refine_margin) around that pass's points. The offsets hold for these
weights, that margin and input size (recorded as mirror_calibrated_for; predict.py turns the
mirrored pass off, saying so, when any of them changes: calibrate again after more training).
Prints one JSON line: the mean offset, and the NME with one refinement pass on the validation
people without and with the mirrored pass.
"""

import argparse
import dataclasses
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import matching  # noqa: E402
from facekp import config as config_lib, detect, metrics, photos  # noqa: E402
from facekp.checkpoints import load_run, write_config  # noqa: E402
from facekp.data import landmark_files  # noqa: E402
from facekp.data.samples import split_by_group  # noqa: E402
from facekp.inference import Predictor, mirror_calibration, mirrored_pass_error  # noqa: E402
from facekp.schemes import IBUG68  # noqa: E402

import numpy as np  # noqa: E402


def frames(ann, indices, channels):
    """(gray or RGB image, MTCNN start box (1, 3)) of each frame, as predict.py starts: from the
    detection of the labelled face (an in-the-wild photo may show other people; benchmarks/wild68.py's
    rule), else the image centre."""
    for i in indices:
        rgb = photos.read_image(ann.paths[i])
        detections = photos.detect_in(rgb)
        match = matching([face.box for face in detections], ann.keypoints[i])
        found = [] if match is None else [detections[match]]
        _, _, starts = photos.face_starts(found, rgb.shape, find_all=False)
        yield detect.as_channels(rgb, channels), np.asarray(starts, np.float32).reshape(-1, 3)


def mirrored_errors(predictor, ann, indices):
    """(N, K, 2) truth minus the mirrored refinement pass's points, in refinement-crop pixels."""
    read = frames(ann, indices, predictor.cfg.channels)
    return np.array(
        [
            mirrored_pass_error(predictor, image, start, true)
            for (image, start), true in zip(read, ann.keypoints[indices])
        ]
    )


def nme_refine1(predictor, read_frames, true):
    """NME with one refinement pass on frames already read and detected (frames())."""
    points = np.array([predictor.predict_faces(image, start, 1)[0] for image, start in read_frames])
    return round(metrics.keypoint_metrics(points, true, np.ones(true.shape[:2]), IBUG68.norm_points)["nme"], 4)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="the faces to calibrate on (default: the run's own --data)")
    parser.add_argument("--run", required=True, help="a 68-point run (or exported model) to calibrate")
    parser.add_argument("--write", action="store_true", help="write the offsets into RUN/config.json")
    args = parser.parse_args()
    cfg = dataclasses.replace(config_lib.load(args.run), mirror_offsets=())  # offsets it may hold: not used
    if cfg.task != "keypoints68":
        parser.error(f"{args.run}: a {cfg.task} run; the mirrored pass is calibrated on the 68-point frames")
    plain = Predictor(cfg, load_run(args.run)[1])
    ann = landmark_files.load(args.data or cfg.data)
    if ann.convention != plain.convention:
        parser.error(
            f"{args.data or cfg.data}: labelled in the {ann.convention} convention, "
            f"the run's first head in {plain.convention}"
        )
    train, val = split_by_group(ann.groups, cfg.val_fraction, cfg.split_seed)
    train = np.sort(np.random.default_rng(0).choice(train, min(len(train), len(val)), replace=False))
    offsets = mirrored_errors(plain, ann, train).mean(0)
    calibrated = dataclasses.replace(
        cfg,
        mirror_offsets=tuple(round(float(v), 3) for v in offsets.ravel()),
        mirror_calibrated_for=mirror_calibration(cfg, plain.model),
    )
    val_frames = list(frames(ann, val, cfg.channels))  # read and detected once for both measurements
    figures = {
        "benchmark": "calibrate_mirror",
        "run": args.run,
        "training_faces": len(train),
        "mean_offset_px": [round(float(v), 3) for v in offsets.mean(0)],
        "val_nme_refine1_plain": nme_refine1(plain, val_frames, ann.keypoints[val]),
        "val_nme_refine1_mirrored": nme_refine1(Predictor(calibrated, plain.model), val_frames, ann.keypoints[val]),
    }
    if args.write:
        write_config(args.run, calibrated)
        figures["written"] = os.path.join(args.run, "config.json")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
