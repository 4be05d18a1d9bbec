"""Label face photos with a trained 68-point model, in the youtube-faces-68 layout, so that
another model trains on them (`train.py --extra-data OUT`): a bigger teacher's keypoints as a
smaller model's targets on faces nobody labelled (pseudo-labels, distillation).

    facekp-label --run runs/teacher32 --out labels/lfw ../shared/data/lfw
    # two runs: the mean of their keypoints
    facekp-label --run runs/teacher32 --run facekp/shipped/keypoints68 --out labels/lfw2 ../shared/data/lfw

Each photo (searched recursively) gives its largest detected face, keypoints as predict.py
finds them with --refine re-crops; photos without a face, or whose keypoints run off the photo,
are named and left out (so are files that training cannot decode: only .jpg .jpeg .png .bmp .gif
are labelled). Writes OUT/training_frames_keypoints.csv (names relative to the photos' folder)
and OUT/training, a link to that folder; OUT is written whole or not at all. The person of a photo is its folder's
name (LFW's DIR/<person>/ layout), else its file name before the last _ (YouTube-Faces'):
train.py --extra-data leaves out the validation people's photos.
"""

from facekp.tfenv import quiet_tensorflow

quiet_tensorflow()  # before TensorFlow's first import (below): no start-up log lines

import argparse
import json
import os
import sys

from facekp.cli import ArgumentParser, check_range, run_main
from facekp.data import youtube68
from facekp.detect import DEFAULT_DETECTOR, DETECTORS
from facekp.errors import InputError
from facekp.fileio import writer_lock
from facekp.inference import MAX_REFINE, Predictor
from facekp.schemes import CONVENTIONS
from facekp.labelling import check_labelling_run, label_folder


def check_out(out: str, photos_dir: str) -> None:
    """OUT may be new (in a folder that exists), or an earlier labelling (its CSV and link only):
    never a folder of other files, a link, the photos' folder or one inside it. It is checked
    before any photo is labelled."""
    if not out or "," in out:
        raise InputError(f"--out {out!r}: give a folder name without commas (--extra-data takes a comma list)")
    photos_dir, out_path = os.path.realpath(photos_dir), os.path.realpath(out)
    if os.path.commonpath([photos_dir, out_path]) == photos_dir:
        raise InputError(f"--out {out}: inside the photos' folder {photos_dir}; give a folder elsewhere")
    parent = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(
            f"--out {out}: its folder {parent} {'cannot be written' if os.path.isdir(parent) else 'does not exist'}"
        )
    if os.path.islink(out):
        raise InputError(f"--out {out}: a link; give the folder itself")
    if os.path.lexists(out):
        earlier = os.path.isdir(out) and set(os.listdir(out)) <= {youtube68.CSV_NAME, "training"}
        if not earlier or not os.path.islink(os.path.join(out, "training")):
            raise InputError(f"--out {out}: exists and is not a label.py folder; give a new folder")


def main():
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("photos", help="folder of face photos (searched recursively)")
    parser.add_argument(
        "--run",
        required=True,
        action="append",
        help="the 68-point keypoint run (or exported model) that labels; repeated: the mean of their keypoints",
    )
    parser.add_argument("--out", required=True, help="folder to write (new, or an earlier label.py output)")
    parser.add_argument("--refine", type=int, default=2, help="re-crop each face around its keypoints this many times")
    parser.add_argument("--detector", choices=DETECTORS, default=DEFAULT_DETECTOR, help="face detector")
    parser.add_argument(
        "--convention",
        choices=CONVENTIONS,
        help="the labelling convention of the points, for a model with one head per convention "
        "(default: its first; the shipped model's is 300w, 300-W's)",
    )
    args = parser.parse_args()
    if not os.path.isdir(args.photos):
        raise InputError(f"{args.photos}: {'not a folder' if os.path.exists(args.photos) else 'no such folder'}")
    check_range("--refine", args.refine, 0, MAX_REFINE)
    check_out(args.out, args.photos)
    for run in args.run:
        check_labelling_run(run)
    if len({os.path.realpath(run) for run in args.run}) < len(args.run):
        raise InputError(f"--run: a run given twice ({', '.join(args.run)}): the mean would count it twice")
    try:
        with writer_lock(args.out):  # one label.py writes OUT at a time
            predictors = [Predictor.from_run(run, convention=args.convention) for run in args.run]
            counts = label_folder(args.photos, predictors, args.out, args.refine, args.detector)
    except KeyboardInterrupt:
        print(f"interrupted: {args.out} not written", file=sys.stderr)
        raise SystemExit(130)
    print(json.dumps({"out": args.out, **counts}))


def run() -> None:
    """The console script's entry point: bad input is one line and exit code 2."""
    run_main(main)


if __name__ == "__main__":
    run()
