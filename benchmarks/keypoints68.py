"""Benchmark: train the 68-point model on the shared YouTube-Faces data within a time budget.

    python benchmarks/keypoints68.py --data ../shared/data/youtube-faces-68 --minutes 15

Calibrates the step time, sizes the run to the budget, trains through facekp's loop, then prints
one JSON line: validation NME (people never seen in training, crops around the true keypoint
box), training images/s, and inference ms per face at batch 1 and 32 on this machine.
"""
import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from facekp.config import KeypointConfig  # noqa: E402
from facekp.inference import Predictor  # noqa: E402
from facekp.train_loop import train  # noqa: E402

CALIBRATION_STEPS = 40


def last_train_speed(run_dir):
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        rows = [json.loads(line) for line in f]
    return [r for r in rows if r["split"] == "train"][-1]["images_per_s"]


def inference_ms(predictor, batch, repeats):
    images = np.random.default_rng(0).random((batch, predictor.cfg.input_size, predictor.cfg.input_size,
                                              predictor.cfg.channels), np.float32)
    predictor.predict(images, batch_size=batch)  # trace
    start = time.perf_counter()
    for _ in range(repeats):
        predictor.predict(images, batch_size=batch)
    return (time.perf_counter() - start) * 1000.0 / (repeats * batch)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=os.path.join(os.environ.get("FACEKP_DATA", "../shared/data"),
                                                       "youtube-faces-68"))
    parser.add_argument("--minutes", type=float, default=15.0, help="training time budget")
    parser.add_argument("--model", default="resnet")
    parser.add_argument("--head", default="integral")
    parser.add_argument("--run", default=None, help="keep the trained run here (default: a temp dir)")
    args = parser.parse_args()

    base = KeypointConfig(data=os.path.abspath(args.data), model=args.model, head=args.head)
    with tempfile.TemporaryDirectory() as tmp:
        calib = os.path.join(tmp, "calibrate")
        train(dataclasses.replace(base, steps=CALIBRATION_STEPS, eval_every=CALIBRATION_STEPS,
                                  log_every=CALIBRATION_STEPS // 2), calib)
        speed = last_train_speed(calib)
        steps = max(100, int(args.minutes * 60 * speed / base.batch_size * 0.92))  # 8% for evaluation
        run = args.run or os.path.join(tmp, "run")
        cfg = dataclasses.replace(base, steps=steps, eval_every=max(steps // 10, 1), ckpt_every=max(steps // 10, 1))
        start = time.perf_counter()
        results = train(cfg, run)
        minutes = (time.perf_counter() - start) / 60.0
        predictor = Predictor.from_run(run)
        print(json.dumps({
            "benchmark": "keypoints68", "model": args.model, "head": args.head, "steps": steps,
            "train_minutes": round(minutes, 2), "train_images_per_s": round(last_train_speed(run), 1),
            "val_nme": round(results["nme"], 4), "val_nme_median": round(results["nme_median"], 4),
            "val_failure_rate_10pct": round(results["failure_rate"], 4),
            "infer_ms_per_face_batch1": round(inference_ms(predictor, 1, 100), 2),
            "infer_ms_per_face_batch32": round(inference_ms(predictor, 32, 10), 2),
        }))


if __name__ == "__main__":
    main()
