"""Benchmark: train the 68-point model on the shared YouTube-Faces data within a time budget.

    python benchmarks/keypoints68.py --data ../shared/data/youtube-faces-68 --minutes 15

Prints one JSON line: validation NME on people never seen in training (crops around the true
keypoint box), training images/s, the wall-clock minutes from the start of training (data
loading included) to the first validation at or below --target NME, and inference ms per face at
batch 1 and 32 on this machine.
"""

import argparse
import json
import os

from common import data_default, inference_ms, load_predictor, train_within_budget

from facekp.config import KeypointConfig


def minutes_to(run, target):
    """Minutes until the first validation at or below `target` NME (None if never)."""
    with open(os.path.join(run, "metrics.jsonl")) as f:
        rows = [json.loads(line) for line in f]
    hits = [r["elapsed_s"] for r in rows if r["split"] == "val" and r["nme"] <= target]
    return round(hits[0] / 60.0, 2) if hits else None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=data_default("youtube-faces-68"))
    parser.add_argument("--minutes", type=float, default=15.0, help="training time budget")
    parser.add_argument("--model", default="resnet")
    parser.add_argument("--head", default="integral")
    parser.add_argument("--run", default=None, help="keep the trained run here (default: a temp dir)")
    parser.add_argument("--target", type=float, default=0.05, help="validation NME for time-to-accuracy")
    args = parser.parse_args()

    cfg = KeypointConfig(data=os.path.abspath(args.data), model=args.model, head=args.head)
    results, minutes, speed, run, _tmp = train_within_budget(cfg, args.minutes, args.run)
    predictor = load_predictor(run)
    print(
        json.dumps(
            {
                "benchmark": "keypoints68",
                "model": args.model,
                "head": args.head,
                "train_minutes": round(minutes, 2),
                "train_images_per_s": round(speed, 1),
                "val_nme": round(results["nme"], 4),
                "val_nme_median": round(results["nme_median"], 4),
                "val_failure_rate_10pct": round(results["failure_rate"], 4),
                "target_nme": args.target,
                "minutes_to_target": minutes_to(run, args.target),
                "infer_ms_per_face_batch1": round(inference_ms(predictor, 1, 100), 2),
                "infer_ms_per_face_batch32": round(inference_ms(predictor, 32, 10), 2),
            }
        )
    )


if __name__ == "__main__":
    main()
