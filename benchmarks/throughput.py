"""Benchmark: training and inference throughput of the seeds' PyTorch keypoint network against
the same network in facekp, and facekp's default keypoint model, in one process on synthetic data.

    pip install -e '.[bench]'        # torch==2.13.0 (CPU), the optional benchmark dependency
    python benchmarks/throughput.py [--steps 20] [--batch-size 32] [--data ../shared/data/youtube-faces-68]

(a) torch: Conv 1->16 k7, pool, 16->32 k5, pool, 32->64 k3, pool, 64->128 k3, pool, 128->512 k3,
    pool, FC 8192->1024, dropout 0.6, FC 1024->136; 224x224x1; RMSprop; MSE; batch 32.
(b) the same network as facekp's `seednet` model fn through facekp's train step (with and
    without XLA), (c) facekp's default model (resnet, integral head, 96x96x1).
(c) is also timed through facekp.inference.Predictor, ms per face at batch 1 and 32, for its
TFLite (XNNPACK, the default) and TensorFlow engines.
With --data, also times (c) fed by the real augmenting tf.data pipeline against the same step fed
an in-memory batch. Prints one JSON line: images/s for training and inference of each, the
ratios b/a, and the pipeline's steps/s.
"""

import argparse
import dataclasses
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from facekp.tfenv import quiet_tensorflow  # noqa: E402

quiet_tensorflow()

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from benchmarks.common import inference_ms  # noqa: E402
from facekp import losses, models, tasks  # noqa: E402
from facekp.inference import ENGINES, Predictor  # noqa: E402
from facekp.config import KeypointConfig  # noqa: E402
from facekp.train_loop import make_optimizer, make_train_step  # noqa: E402


def timed(fn, steps, warmup=3):
    for _ in range(warmup):
        fn()
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    return time.perf_counter() - start


def torch_seednet(steps, batch):
    import torch
    from torch import nn

    layers, channels = [], 1
    for filters, kernel in [(16, 7), (32, 5), (64, 3), (128, 3), (512, 3)]:
        layers += [nn.Conv2d(channels, filters, kernel), nn.ReLU(), nn.MaxPool2d(2)]
        channels = filters
    net = nn.Sequential(*layers, nn.Flatten(), nn.Linear(8192, 1024), nn.ReLU(), nn.Dropout(0.6), nn.Linear(1024, 136))
    optimizer = torch.optim.RMSprop(net.parameters())
    x, y = torch.rand(batch, 1, 224, 224), torch.rand(batch, 136)

    def train_step():
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(net(x), y)
        loss.backward()
        optimizer.step()

    def infer():
        with torch.no_grad():
            net(x)

    net.train()
    train_s = timed(train_step, steps)
    net.eval()
    infer_s = timed(infer, steps)
    return {
        "train_images_per_s": steps * batch / train_s,
        "infer_images_per_s": steps * batch / infer_s,
        "torch_threads": torch.get_num_threads(),
    }


def facekp_step(cfg):
    """facekp's compiled train step and its model, for a config."""
    model = models.build_keypoint_model(cfg, 68)
    loss = losses.KEYPOINT_LOSSES[cfg.loss]
    step = make_train_step(
        model,
        make_optimizer(cfg),
        lambda out, b: loss(out, b["keypoints"], b["mask"]),
        tf.distribute.get_strategy(),
        cfg,
    )
    return model, step


def facekp_model(cfg, steps, batch):
    model, step = facekp_step(cfg)
    rng = np.random.default_rng(0)
    data = {
        "image": tf.constant(rng.random((batch, cfg.input_size, cfg.input_size, 1), np.float32)),
        "keypoints": tf.constant(rng.uniform(0, cfg.input_size, (batch, 68, 2)).astype(np.float32)),
        "mask": tf.ones((batch, 68)),
    }
    predict = tf.function(lambda images: model(images, training=False))
    train_s = timed(lambda: step(data)["loss"].numpy(), steps)
    infer_s = timed(lambda: predict(data["image"]).numpy(), steps)
    return {"train_images_per_s": steps * batch / train_s, "infer_images_per_s": steps * batch / infer_s}


def predictor_ms_per_face(cfg):
    """ms per face through facekp's Predictor, each engine at batch 1 and 32 (weights untrained:
    the time is the same)."""
    model = models.build_keypoint_model(cfg, 68)
    return {
        f"{engine}_batch{batch}": round(inference_ms(Predictor(cfg, model, engine), batch, max(320 // batch, 5)), 2)
        for engine in ENGINES
        for batch in (1, 32)
    }


def pipeline_vs_synthetic(data_dir, steps, batch):
    """Default model's training steps/s fed by the real augmenting tf.data pipeline (decoded
    68-point frames) against the same step fed one in-memory batch over and over."""
    cfg = KeypointConfig(data=data_dir, batch_size=batch, steps=10 * steps)
    task = tasks.get("keypoints68")
    samples = task.load_samples(cfg)
    batches = iter(task.train_batches(cfg, samples, 0))
    _, step = facekp_step(cfg)
    fixed = next(batches)
    synthetic_s = timed(lambda: step(fixed)["loss"].numpy(), steps)
    real_s = timed(lambda: step(next(batches))["loss"].numpy(), steps)
    pipeline_s = timed(lambda: next(batches), steps)
    return {
        "synthetic_steps_per_s": steps / synthetic_s,
        "real_pipeline_steps_per_s": steps / real_s,
        "ratio_real_to_synthetic": round(synthetic_s / real_s, 3),
        "pipeline_alone_batches_per_s": steps / pipeline_s,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--data", help="a youtube-faces-68 folder: also time the real input pipeline")
    args = parser.parse_args()
    seed_cfg = KeypointConfig(
        model="seednet", input_size=224, loss="mse", grad_clip=0.0, weight_decay=0.0, batch_size=args.batch_size
    )
    from tensorflow.python.util import _pywrap_util_port

    results = {
        "benchmark": "throughput",
        "batch_size": args.batch_size,
        "cpu_count": os.cpu_count(),
        "tf_onednn": bool(_pywrap_util_port.IsMklEnabled()),
    }  # facekp turns it on (facekp/__init__.py)
    try:
        results["a_torch_seednet"] = torch_seednet(args.steps, args.batch_size)
    except ImportError:
        results["a_torch_seednet"] = None  # torch not installed: pip install -e '.[bench]'
    results["b_facekp_seednet"] = facekp_model(seed_cfg, args.steps, args.batch_size)
    results["b_facekp_seednet_xla"] = facekp_model(
        dataclasses.replace(seed_cfg, jit_compile=True), args.steps, args.batch_size
    )
    results["c_facekp_default"] = facekp_model(KeypointConfig(batch_size=args.batch_size), args.steps, args.batch_size)
    results["c_facekp_default_inference_ms_per_face"] = predictor_ms_per_face(KeypointConfig())
    if args.data:
        results["pipeline_default_model"] = pipeline_vs_synthetic(
            os.path.abspath(args.data), args.steps, args.batch_size
        )
    if results["a_torch_seednet"]:
        for key in ("b_facekp_seednet", "b_facekp_seednet_xla"):
            for what in ("train", "infer"):
                results[f"ratio_{key[2:]}_{what}"] = round(
                    results[key][f"{what}_images_per_s"] / results["a_torch_seednet"][f"{what}_images_per_s"], 3
                )
    for key, value in results.items():
        if isinstance(value, dict):
            results[key] = {k: round(v, 2) if isinstance(v, float) else v for k, v in value.items()}
    print(json.dumps(results))


if __name__ == "__main__":
    main()
