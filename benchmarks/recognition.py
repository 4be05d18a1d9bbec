"""Recognition figures of trained runs, as one JSON line: the identity classifier's validation
macro F1 and accuracy (LFW 2017, stratified split), the embedding + SVM's (5-fold stratified
cross-validation over its --classify-data), LFW pairs verification (mean over the folds judged,
each by a run that never trained on its people) with AUC, the shipped embedding
(facekp/shipped/face_embedding) on folds 1-5 and its embedding time per face (one at a time, and in
batches of 128), and training images/s and minutes from each run's log (an
ensemble's: each of its members').

    python benchmarks/recognition.py --identity-run runs/id7 \\
        --embedding-run runs/arcA --folds 1-5 --embedding-run runs/arcB --folds 6-10 \\
        --pairs $FACEKP_DATA/lfw/pairs.txt [--roc docs/lfw-roc.png]
"""

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import data_default, last_train_speed, training_minutes  # noqa: E402
from facekp import tasks, verification  # noqa: E402
from facekp.config import SHIPPED_EMBEDDING  # noqa: E402
from facekp.ensemble import MEMBERS_FILE  # noqa: E402
from facekp.recognise import Recogniser, load_results  # noqa: E402


def identity_figures(run_dir):
    """Re-evaluate the best checkpoint on the run's own validation split."""
    recogniser = Recogniser(run_dir)
    cfg, task = recogniser.cfg, tasks.get(recogniser.cfg.task)
    _, val = task.split(cfg, task.load_samples(cfg))
    figures = task.evaluate(recogniser.outputs(val.images), {"label": val.labels})
    return {
        "classifier_macro_f1": figures["macro_f1"],
        "classifier_accuracy": figures["accuracy"],
        "classifier_val_faces": len(val),
        "classifier_train_img_s": last_train_speed(run_dir),
    }


def embedding_ms_per_face(run_dir, batch):
    """Milliseconds per face to embed 128 faces (each with its mirror image) `batch` at a time, after a warm-up."""
    recogniser = Recogniser(run_dir)
    size, channels = recogniser.cfg.input_size, recogniser.cfg.channels
    faces = np.random.default_rng(0).integers(0, 256, (128, size, size, channels), dtype=np.uint8)
    recogniser.outputs(faces[:batch])
    began = time.perf_counter()
    for start in range(0, len(faces), batch):
        recogniser.outputs(faces[start : start + batch])
    return 1000.0 * (time.perf_counter() - began) / len(faces)


def trained_runs(run_dir):
    """The runs that trained for `run_dir`: an ensemble's members (its ensemble.json, paths from
    where it was made: run this from there), else itself."""
    path = os.path.join(run_dir, MEMBERS_FILE)
    if not os.path.isfile(path):
        return [run_dir]
    with open(path) as f:
        members = json.load(f)["members"]
    missing = [member for member in members if not os.path.isdir(member)]
    if missing:
        sys.exit(f"{path}: member {missing[0]} not found from here (its training log gives the minutes)")
    return members


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--identity-run")
    parser.add_argument("--embedding-run", action="append", default=[])
    parser.add_argument("--folds", action="append", default=[], help="pairs folds each embedding run judges")
    parser.add_argument("--pairs", default=os.path.join(data_default("lfw"), "pairs.txt"))
    parser.add_argument("--roc", help="also save the ROC plot here")
    parser.add_argument("--shipped", default=SHIPPED_EMBEDDING, help="the shipped embedding, judged on folds 1-5")
    args = parser.parse_args()
    out = identity_figures(args.identity_run) if args.identity_run else {}
    if args.embedding_run:
        svm = load_results(args.embedding_run[0]).get("classifier", {})
        out.update(
            embedding_svm_macro_f1=svm.get("macro_f1"),
            embedding_svm_accuracy=svm.get("accuracy"),
            embedding_train_img_s=[round(last_train_speed(run), 1) for run in trained_runs(args.embedding_run[0])],
            embedding_train_minutes=[[training_minutes(run) for run in trained_runs(e)] for e in args.embedding_run],
        )
        per_fold, distances = verification.run_protocol(
            list(zip(args.embedding_run, args.folds)), args.pairs, verification.default_image_dir(args.pairs)
        )
        summary = verification.summary(per_fold)
        out.update(
            verification_folds=summary["folds"],
            verification_accuracy=summary["accuracy_mean"],
            verification_accuracy_std=summary["accuracy_std"],
            verification_auc=summary["auc_mean"],
        )
        if args.roc:
            verification.save_roc(args.roc, distances)
    if args.shipped:
        shipped, _ = verification.run_protocol(
            [(args.shipped, "1-5")], args.pairs, verification.default_image_dir(args.pairs)
        )
        figures = verification.summary(shipped)
        out.update(
            shipped_folds1_5_accuracy=figures["accuracy_mean"],
            shipped_folds1_5_auc=figures["auc_mean"],
            shipped_ms_per_face_one_at_a_time=embedding_ms_per_face(args.shipped, 1),
            shipped_ms_per_face_batched=embedding_ms_per_face(args.shipped, 128),
        )
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in out.items()}))


if __name__ == "__main__":
    main()
