"""Benchmark: the 68-point model through TFLite, float32 against post-training quantisation.

    python benchmarks/quantise.py --data ../shared/data/youtube-faces-68 [--run facekp/shipped/keypoints68]

On the validation people's true-box crops (`--split-seed` of the run), for each of float32,
dynamic-range int8 weights, float16 weights and full int8 (calibrated on 100 of those crops):
NME mean, share of faces above 10%, model size and ms per face at batch 1 on all cores. One JSON
line. Issue 18 allows quantisation only if NME holds within 0.05 points.
"""

import argparse
import dataclasses
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import data_default  # noqa: E402 (quiets TensorFlow first)
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2  # noqa: E402

from facekp import metrics, tflite  # noqa: E402
from facekp.checkpoints import load_run  # noqa: E402
from facekp.config import SHIPPED_KEYPOINTS  # noqa: E402
from facekp.schemes import IBUG68  # noqa: E402
from facekp.tasks.keypoints import KEYPOINTS68  # noqa: E402

REPEATS = 1000


def converted(frozen, kind, calibration):
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen], tf.Module())
    if kind != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if kind == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if kind == "int8":
        converter.representative_dataset = lambda: ([image[None]] for image in calibration)
    return converter.convert()


def figures(model_bytes, images, arrays):
    runner = tflite.interpreter(model_bytes)
    inp, out = runner.get_input_details()[0]["index"], runner.get_output_details()[0]["index"]

    def run(image):
        runner.set_tensor(inp, image[None])
        runner.invoke()
        return runner.get_tensor(out)[0]

    predictions = np.array([run(image) for image in images])
    found = metrics.keypoint_metrics(predictions, arrays["keypoints"], arrays["mask"], IBUG68.norm_points)
    start = time.perf_counter()
    for _ in range(REPEATS):
        run(images[0])
    return {
        "nme": round(found["nme"], 4),
        "fail_10": round(found["failure_rate"], 4),
        "kb": len(model_bytes) // 1024,
        "ms_per_face": round((time.perf_counter() - start) * 1000 / REPEATS, 3),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=data_default("youtube-faces-68"))
    parser.add_argument("--run", default=SHIPPED_KEYPOINTS)
    args = parser.parse_args()
    cfg, model = load_run(args.run)
    cfg = dataclasses.replace(cfg, data=args.data, cache="memory")
    _, val = KEYPOINTS68.split(cfg, KEYPOINTS68.load_samples(cfg))
    arrays = KEYPOINTS68.val_arrays(cfg, val)
    images = arrays["image"].astype(np.float32)
    spec = tf.TensorSpec([1, *images.shape[1:]], tf.float32)
    concrete = tf.function(lambda x: model(x, training=False), autograph=False).get_concrete_function(spec)
    frozen = convert_variables_to_constants_v2(concrete)
    out = {"benchmark": "quantise", "run": args.run, "faces": len(images)}
    for kind in ("float32", "dynamic", "float16", "int8"):
        out[kind] = figures(converted(frozen, kind, images[::4][:100]), images, arrays)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
