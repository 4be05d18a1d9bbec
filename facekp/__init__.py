"""facekp: train face keypoint detectors and face recognisers from scratch with TensorFlow 2."""

import importlib
import os

# TensorFlow turns its oneDNN kernels on by itself only on CPUs with AVX-512 VNNI/BF16 or AMX;
# elsewhere (AVX2 laptops, AMD EPYC) it falls back to Eigen kernels built for AVX, and training
# runs 1.5-2.3x slower (benchmarks/throughput.py). Must be set before TensorFlow is imported;
# an explicit TF_ENABLE_ONEDNN_OPTS=0 still wins.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

__version__ = "0.1.0"

# The one-call API (facekp/api.py), imported on first use so that `import facekp.<module>` stays
# light and TensorFlow's start-up stays muted (PEP 562 module __getattr__).
API = ("face_landmarks", "face_embeddings", "same_person", "Face", "as_rgb")


def __getattr__(name: str):
    if name in API:
        return getattr(importlib.import_module("facekp.api"), name)
    raise AttributeError(f"module 'facekp' has no attribute {name!r}")
