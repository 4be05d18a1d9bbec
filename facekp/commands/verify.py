"""LFW verification (pairs.txt, View 2) of embedding runs: accuracy and ROC AUC per fold.

Each fold is judged by a run that never trained on its people (train with
--exclude-people PAIRS.txt:FOLDS); each fold's threshold is chosen on the other judged folds.

    facekp-verify --pairs ../shared/data/lfw/pairs.txt --run runs/embA --folds 1-5 \\
                                                           --run runs/embB --folds 6-10

Prints each fold and the mean as one JSON line; writes roc-<timestamp>.png into --out.
"""

from facekp.tfenv import quiet_tensorflow

quiet_tensorflow()  # before TensorFlow's first import (below): no start-up log lines

import argparse
import json
import os
import time

from facekp import verification
from facekp.cli import ArgumentParser, check_out_folder, run_main
from facekp.config import SHIPPED_EMBEDDING, SHIPPED_EMBEDDING_FOLDS
from facekp.errors import InputError


def main():
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", required=True, help="LFW pairs file (pairs.txt, or View 1's pairsDevTest.txt)")
    parser.add_argument(
        "--run",
        action="append",
        help="embedding run dir (repeat, one per --folds; default: the shipped embedding, on the folds "
        f"its training left out, {SHIPPED_EMBEDDING_FOLDS})",
    )
    parser.add_argument("--folds", action="append", help="folds this run judges, e.g. 1-5")
    parser.add_argument("--images", help="LFW person folders (default: the pairs file's folder)")
    parser.add_argument("--out", default=".", help="folder for roc-<timestamp>.png (default: here)")
    args = parser.parse_args()
    if not args.run and not args.folds:
        args.run, args.folds = [SHIPPED_EMBEDDING], [SHIPPED_EMBEDDING_FOLDS]
    if len(args.run or ()) != len(args.folds or ()):
        raise InputError(
            f"--run given {len(args.run or ())} times, --folds {len(args.folds or ())}: give one --folds per --run"
        )
    check_out_folder(args.out, "the ROC plot goes into")

    per_fold, distances = verification.run_protocol(
        list(zip(args.run, args.folds)), args.pairs, args.images or verification.default_image_dir(args.pairs)
    )
    for fold, figures in sorted(per_fold.items()):
        print(
            f"fold {fold + 1}: accuracy {figures['verification_accuracy']:.4f}, AUC {figures['auc']:.4f}, "
            f"threshold {figures['threshold']:.3f}"
        )
    os.makedirs(args.out, exist_ok=True)
    roc = os.path.join(args.out, f"roc-{time.strftime('%Y%m%d-%H%M%S')}.png")
    verification.save_roc(roc, distances)
    print(json.dumps({**verification.summary(per_fold), "roc": roc}))


def run() -> None:
    """The console script's entry point: bad input is one line and exit code 2."""
    run_main(main)


if __name__ == "__main__":
    run()
