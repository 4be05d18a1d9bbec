"""facekp: train face keypoint detectors and face recognisers from scratch with TensorFlow 2."""
__version__ = "0.1.0"
