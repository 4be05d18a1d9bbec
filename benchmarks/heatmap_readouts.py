"""Benchmark: a --head heatmap run's maps read out in several ways, on its validation faces' true-box
crops (the run's own validation split), against the true keypoints:

- argmax_offset: the best cell's centre plus its offset (what the head outputs);
- softargmax: the expectation of the cells' centres under the softmax of the scores (the
  integral head's readout, on maps trained for the argmax);
- vote: every cell's centre plus its offset, weighted by that softmax;
- local_vote: the same over the 3 x 3 cells around the best one.

    python benchmarks/heatmap_readouts.py --run runs/hm_ft

Prints one JSON line: NME mean / median / share above 10% for each readout.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from facekp import metrics, tasks  # noqa: E402
from facekp.checkpoints import load_run  # noqa: E402
from facekp.models.keypoints import cell_grid  # noqa: E402


def readouts(scores, offsets, decode):
    """(name -> (B, K, 2) points) of scores (B, h, w, K) and offsets (B, h, w, 2K) in cells;
    `decode`: the model's own HeatmapOffsets layer, for the head's output."""
    b, h, w, k = scores.shape
    grid = cell_grid(decode.input_size, h, w).numpy()
    head = np.asarray(decode([scores, offsets], training=False))
    scores = scores.reshape(b, h * w, k)
    votes = grid[None, :, None] + offsets.reshape(b, h * w, k, 2) * (decode.input_size / w)
    best = scores.argmax(1)  # (B, K)
    prob = np.exp(scores - scores.max(1, keepdims=True))
    prob /= prob.sum(1, keepdims=True)
    cells = np.arange(h * w)
    near = (np.abs(cells[None, :, None] // w - best[:, None] // w) <= 1) & (
        np.abs(cells[None, :, None] % w - best[:, None] % w) <= 1
    )
    local = prob * near / (prob * near).sum(1, keepdims=True)
    return {
        "argmax_offset": head,
        "softargmax": np.einsum("bnk,nc->bkc", prob, grid),
        "vote": np.einsum("bnk,bnkc->bkc", prob, votes),
        "local_vote": np.einsum("bnk,bnkc->bkc", local, votes),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="a --head heatmap run")
    args = parser.parse_args()
    cfg, model = load_run(args.run)
    if getattr(cfg, "head", "") != "heatmap":
        parser.error(f"{args.run}: not a --head heatmap run")
    task = tasks.get(cfg.task)
    _, val = task.split(cfg, task.load_samples(cfg))
    arrays = task.val_arrays(cfg, val)
    probe = keras.Model(model.input, [model.get_layer("heatmaps").output, model.get_layer("offsets").output])
    maps = [probe(arrays["image"][i : i + 64], training=False) for i in range(0, len(arrays["image"]), 64)]
    scores, offsets = (np.concatenate([np.asarray(m[j]) for m in maps]) for j in (0, 1))
    figures = {"benchmark": "heatmap_readouts", "run": args.run, "faces": len(scores)}
    for name, points in readouts(scores, offsets, model.get_layer("keypoints")).items():
        result = metrics.keypoint_metrics(points, arrays["keypoints"], arrays["mask"], task.scheme.norm_points)
        figures[name] = {key: round(result[key], 4) for key in ("nme", "nme_median", "failure_rate")}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
