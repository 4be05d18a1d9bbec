"""facekp: train face keypoint detectors and face recognisers from scratch with TensorFlow 2."""

import os

# TensorFlow turns its oneDNN kernels on by itself only on CPUs with AVX-512 VNNI/BF16 or AMX;
# elsewhere (AVX2 laptops, AMD EPYC) it falls back to Eigen kernels built for AVX, and training
# runs 1.5-2.3x slower (benchmarks/throughput.py). Must be set before TensorFlow is imported;
# an explicit TF_ENABLE_ONEDNN_OPTS=0 still wins.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

__version__ = "0.1.0"
