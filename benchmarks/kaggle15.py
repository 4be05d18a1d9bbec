"""Benchmark: Kaggle 15-point training with missing labels, within a time budget.

    python benchmarks/kaggle15.py --data ../shared/data/kaggle-fkd-yt \
        --groups ../shared/data/youtube-faces-68/training_frames_keypoints.csv --minutes 10 \
        [--init-from runs/kp68]

Prints one JSON line: validation RMSE in 96x96 pixels (Kaggle's metric) over all labelled
coordinates, over the fully labelled rows and over the 4-point rows, with and without flip
test-time augmentation, NME, and training images/s. The split holds out whole people when
--groups names them.
"""

import argparse
import json
import os

from common import data_default, load_predictor, train_within_budget

from facekp import tasks
from facekp.config import KeypointConfig


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=data_default("kaggle-fkd-yt"))
    parser.add_argument(
        "--groups", default=os.path.join(data_default("youtube-faces-68"), "training_frames_keypoints.csv")
    )
    parser.add_argument("--minutes", type=float, default=10.0, help="training time budget")
    parser.add_argument("--run", default=None, help="keep the trained run here (default: a temp dir)")
    parser.add_argument("--init-from", default="", help="start from a run's weights (e.g. a keypoints68 run)")
    args = parser.parse_args()

    cfg = KeypointConfig(
        task="kaggle15",
        data=os.path.abspath(args.data),
        groups=os.path.abspath(args.groups) if args.groups else "",
        init_from=os.path.abspath(args.init_from) if args.init_from else "",
    )
    results, minutes, speed, run, _tmp = train_within_budget(cfg, args.minutes, args.run)
    task = tasks.get("kaggle15")
    val_samples = task.split(cfg, task.load_samples(cfg))[1]
    val = task.val_arrays(cfg, val_samples)
    predictor = load_predictor(run)
    tta = task.evaluate(predictor.predict(val["image"], flip_tta=True), val)
    plain = task.evaluate(predictor.predict(val["image"]), val)
    print(
        json.dumps(
            {
                "benchmark": "kaggle15",
                "init_from": args.init_from or None,
                "train_minutes": round(minutes, 2),
                "train_images_per_s": round(speed, 1),
                "val_rmse": round(plain["rmse"], 3),
                "val_rmse_full": round(plain["rmse_full"], 3),
                "val_rmse_4point": round(plain["rmse_partial"], 3),
                "val_rmse_flip_tta": round(tta["rmse"], 3),
                "val_rmse_full_flip_tta": round(tta["rmse_full"], 3),
                "val_rmse_4point_flip_tta": round(tta["rmse_partial"], 3),
                "val_nme_flip_tta": round(tta["nme"], 4),
                "val_people": len(set(val_samples.groups)),
            }
        )
    )


if __name__ == "__main__":
    main()
