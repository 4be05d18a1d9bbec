"""Write a Kaggle submission from a trained run, or check an existing submission.

facekp-submit --task kaggle15 --run runs/k15                # submission-<time>.csv
facekp-submit --task kaggle15 --run runs/k15 --data DIR --out sub.csv
facekp-submit --task kaggle15 --check sub.csv --data DIR    # validate a file
facekp-submit --task lfw2017 --run runs/id7     # ImageId,PredictedClass for X_test
facekp-submit --task lfw2017 --run runs/emb     # an embedding run: its saved SVM
"""

from facekp.tfenv import quiet_tensorflow

quiet_tensorflow()  # before TensorFlow's first import (below): no start-up log lines

import argparse
import os
import time

import numpy as np

from facekp import plots, submission
from facekp.cli import ArgumentParser, run_main
from facekp.data import identities, kaggle_fkd
from facekp.errors import InputError
from facekp.inference import Predictor
from facekp.recognise import Recogniser

TASKS = ("kaggle15", "lfw2017")


def parse_args():
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", required=True, help=f"which competition: {' | '.join(TASKS)}")
    parser.add_argument("--run", help="trained run directory (its best checkpoint is used)")
    parser.add_argument(
        "--data",
        help="kaggle15: folder with test.csv/.zip and IdLookupTable.csv; lfw2017: folder "
        "with X_test.npy and target_names.txt (default: the run's data)",
    )
    parser.add_argument("--out", help="submission path (default: submission-<timestamp>.csv here)")
    parser.add_argument("--check", metavar="FILE", help="only validate FILE against IdLookupTable.csv")
    parser.add_argument(
        "--flip-tta",
        action="store_true",
        help="average with the mirrored image's prediction (helps only with left/right-unbiased labels)",
    )
    return parser.parse_args()


def submit_kaggle15(args):
    if args.check:
        if not args.data:
            raise InputError("--check needs --data (the folder with IdLookupTable.csv)")
        problems = submission.check_keypoint_submission(args.check, kaggle_fkd.read_lookup(args.data))
        if problems:
            raise InputError("; ".join(problems))
        print(f"{args.check}: valid submission")
        return
    if not args.run:
        raise InputError("--run: needed to make a submission")
    predictor = Predictor.from_run(args.run)
    if predictor.cfg.task != "kaggle15" or predictor.cfg.input_size != kaggle_fkd.SIDE:
        raise InputError(
            f"{args.run}: a kaggle15 run at input size {kaggle_fkd.SIDE} is needed, "
            f"this one is {predictor.cfg.task} at {predictor.cfg.input_size}"
        )
    data = args.data or predictor.cfg.data
    lookup = kaggle_fkd.read_lookup(data)
    image_ids, images = kaggle_fkd.read_test(data)
    points = predictor.predict(images / 255.0, flip_tta=args.flip_tta)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = args.out or f"submission-{stamp}.csv"
    submission.write_keypoint_submission(out, lookup, submission.keypoint_locations(lookup, image_ids, points))
    plot = os.path.join(os.path.dirname(out), f"plot-{stamp}.png")  # beside it, named as `out` is
    plots.save_keypoint_figure(plot, images[:16] / 255.0, points[:16], titles=[f"ImageId {i}" for i in image_ids[:16]])
    print(f"wrote {out} ({len(lookup)} rows) and {plot}")


def submit_lfw2017(args):
    """Classes of X_test from an identity run (its head) or an embedding run (its SVM)."""
    if not args.run:
        raise InputError("--run: needed to make a submission")
    recogniser = Recogniser(args.run)
    data = args.data or (recogniser.cfg.classify_data if recogniser.cfg.task == "embedding" else recogniser.cfg.data)
    if not identities.is_arrays_folder(data):
        raise InputError(f"{data}: not an LFW 2017 folder (no X_train.npy/X_test.npy); give --data")
    faces = identities.load_test_arrays(data, recogniser.cfg.input_size, recogniser.cfg.channels, recogniser.aligner)
    predicted, run_classes = recogniser.classify(faces)
    names = identities.read_target_names(data)
    classes = submission.competition_classes(predicted, run_classes, names, os.path.join(data, "target_names.txt"))
    out = args.out or f"submission-{time.strftime('%Y%m%d-%H%M%S')}.csv"
    submission.write_class_submission(out, classes)
    counts = ", ".join(f"{c}: {n}" for c, n in zip(*np.unique(classes, return_counts=True)))
    print(f"wrote {out} ({len(classes)} rows; predicted classes {counts})")


def main():
    args = parse_args()
    if args.task not in TASKS:
        raise InputError(f"--task: unknown task '{args.task}' (choose from {', '.join(TASKS)})")
    if args.task == "lfw2017" and args.check:
        raise InputError("--check: only for --task kaggle15")
    (submit_kaggle15 if args.task == "kaggle15" else submit_lfw2017)(args)


def run() -> None:
    """The console script's entry point: bad input is one line and exit code 2."""
    run_main(main)


if __name__ == "__main__":
    run()
